import { z } from "zod";

/** Usernames: 4–25 of A-Z a-z 0-9 _ (SPEC §3). ASCII only, so look-alike letters cannot pass. */
export const USERNAME_PATTERN = /^[A-Za-z0-9_]{4,25}$/;
/** E-mail addresses: at most 254 characters (RFC 5321 path limit). */
export const EMAIL_MAX_LENGTH = 254;
/** The longest password accepted anywhere (never truncated). */
export const PASSWORD_MAX_LENGTH = 1024;

export const usernameSchema = z
  .string()
  .regex(USERNAME_PATTERN, { error: "must be 4–25 characters of A–Z, a–z, 0–9 and _" });

export const emailSchema = z
  .string()
  .max(EMAIL_MAX_LENGTH, { error: `must be at most ${EMAIL_MAX_LENGTH} characters` })
  .pipe(z.email({ error: "must be an e-mail address" }));

/** A password as received; the policy (length, common, context) is checked by the service. */
export const passwordSchema = z
  .string()
  .min(1, { error: "is required" })
  .max(PASSWORD_MAX_LENGTH, { error: `must be at most ${PASSWORD_MAX_LENGTH} characters` });

/** Case-insensitive key for usernames: `Alice` and `alice` are the same account. */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}

/**
 * Comparison key for e-mail addresses: trimmed, Unicode-normalised and lower-cased as a whole.
 * (Local parts are case-sensitive in theory, never in practice; treating them so prevents
 * duplicate accounts for one mailbox.)
 */
export function emailKey(email: string): string {
  return email.trim().normalize("NFC").toLowerCase();
}

export const registerBody = z.strictObject({
  username: usernameSchema,
  email: emailSchema,
  password: passwordSchema,
});
export const confirmRegistrationBody = z.strictObject({ token: z.string().min(1).max(128) });
/** base64url text as WebAuthn's JSON forms carry binary fields. */
const base64url = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(/^[A-Za-z0-9_-]+$/, { error: "must be base64url" });

/** `PublicKeyCredential.toJSON()` of an assertion (navigator.credentials.get). */
export const passkeyAssertionResponse = z.object({
  id: base64url(1366),
  rawId: base64url(1366),
  type: z.literal("public-key"),
  response: z.object({
    clientDataJSON: base64url(4096),
    authenticatorData: base64url(4096),
    signature: base64url(1024),
    userHandle: base64url(128).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
});

/** `PublicKeyCredential.toJSON()` of a new credential (navigator.credentials.create). */
export const passkeyRegistrationResponse = z.object({
  id: base64url(1366),
  rawId: base64url(1366),
  type: z.literal("public-key"),
  response: z.object({
    clientDataJSON: base64url(4096),
    attestationObject: base64url(65_536),
    transports: z.array(z.string().max(32)).max(8).optional(),
  }),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(["platform", "cross-platform"]).optional(),
});

export const challengeIdSchema = z.uuid();

/** A passkey assertion answering the challenge `challengeId`. */
export const passkeyAssertionBody = z.strictObject({
  challengeId: challengeIdSchema,
  response: passkeyAssertionResponse,
});

export const loginBody = z.strictObject({
  username: z.string().min(1).max(EMAIL_MAX_LENGTH),
  password: passwordSchema,
  totp: z.string().max(64).optional(),
  passkey: passkeyAssertionBody.optional(),
});
export const passwordResetBody = z.strictObject({ email: z.string().min(1).max(EMAIL_MAX_LENGTH) });
export const passwordResetConfirmBody = z.strictObject({
  token: z.string().min(1).max(128),
  password: passwordSchema,
});
export const changePasswordBody = z.strictObject({
  currentPassword: passwordSchema,
  newPassword: passwordSchema,
});
export const updateMeBody = z.strictObject({ email: emailSchema });
export const totpConfirmBody = z.strictObject({ code: z.string().min(1).max(16) });
export const totpDisableBody = z.strictObject({ password: passwordSchema });
/** Step-up: the password, or a current TOTP or recovery code — exactly one. */
export const reauthBody = z.union([
  z.strictObject({ password: passwordSchema }),
  z.strictObject({ totp: z.string().min(1).max(64) }),
  z.strictObject({ passkey: passkeyAssertionBody }),
]);
export const reauthResponse = z.object({
  /** When this session proved a credential (now). */
  reauthenticatedAt: z.string(),
  /** Until when that proof admits step-up actions (`REAUTH_MINUTES`). */
  expiresAt: z.string(),
});
export const sessionIdParams = z.strictObject({
  id: z.string().regex(/^[0-9a-f]{64}$/, { error: "is not a session id" }),
});

/** A user as the API shows it to anyone allowed to see the user. */
export const userResponse = z.object({
  id: z.string(),
  username: z.string(),
  email: z.string(),
  role: z.enum(["admin", "auditor", "member"]),
  disabled: z.boolean(),
  /** TOTP is on. */
  mfaEnabled: z.boolean(),
  /** At least one passkey is registered (a second factor too). */
  passkeyEnabled: z.boolean(),
  createdAt: z.string(),
});

/** The signed-in user's own profile: adds what only they should see. */
export const meResponse = userResponse.extend({
  lastLoginAt: z.string().nullable(),
  lastLoginAddress: z.string().nullable(),
  failedLoginsBeforeLastLogin: z.number(),
  failedLoginsSinceLastLogin: z.number(),
});

export const sessionResponse = z.object({
  id: z.string(),
  createdAt: z.string(),
  lastSeenAt: z.string(),
  expiresAt: z.string(),
  address: z.string().nullable(),
  userAgent: z.string().nullable(),
  current: z.boolean(),
});

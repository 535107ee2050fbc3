import { z } from "zod";

/** Vault slugs (SPEC §3): lower-case letters, digits and hyphens, 2–63 characters. */
export const VAULT_SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;
/** Longest token name, in characters. */
export const TOKEN_NAME_MAX_LENGTH = 100;
/** Most scopes one token may carry. */
export const TOKEN_SCOPES_MAX = 50;
/** Longest token lifetime, in days (SPEC §3: at most 365). */
export const TOKEN_EXPIRY_MAX_DAYS = 365;

/** What a token may do in one vault. */
export const tokenPermission = z.enum(["read", "write"]);
export type TokenPermission = z.infer<typeof tokenPermission>;

/** One scope as the API speaks it: the vault by slug. */
export const tokenScope = z.strictObject({
  vault: z.string().regex(VAULT_SLUG_PATTERN, { error: "is not a vault slug" }),
  permission: tokenPermission,
});

export const createTokenBody = z.strictObject({
  // No control characters: the name is shown in lists and pages.
  name: z
    .string()
    .trim()
    .min(1, { error: "is required" })
    .max(TOKEN_NAME_MAX_LENGTH, { error: `must be at most ${TOKEN_NAME_MAX_LENGTH} characters` })
    .regex(/^\P{Cc}*$/u, { error: "must not contain control characters" }),
  scopes: z
    .array(tokenScope)
    .min(1, { error: "must name at least one vault" })
    .max(TOKEN_SCOPES_MAX, { error: `must name at most ${TOKEN_SCOPES_MAX} vaults` })
    .check((ctx) => {
      // One scope per vault: two would leave the token's right in that vault ambiguous.
      const seen = new Set<string>();
      ctx.value.forEach((scope, index) => {
        if (seen.has(scope.vault)) {
          ctx.issues.push({
            code: "custom",
            input: scope.vault,
            path: [index, "vault"],
            message: "names a vault already listed",
          });
        }
        seen.add(scope.vault);
      });
    }),
  expiresInDays: z
    .number()
    .int({ error: "must be a whole number of days" })
    .min(1, { error: "must be at least 1" })
    .max(TOKEN_EXPIRY_MAX_DAYS, { error: `must be at most ${TOKEN_EXPIRY_MAX_DAYS}` }),
});
export type CreateTokenBody = z.infer<typeof createTokenBody>;

export const tokenIdParams = z.strictObject({
  id: z.uuid({ error: "is not a token id" }),
});

/** A token as its owner sees it: never the token text nor its hash. */
export const tokenResponse = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.object({ vault: z.string(), permission: tokenPermission })),
  createdAt: z.string(),
  expiresAt: z.string(),
  lastUsedAt: z.string().nullable(),
  revoked: z.boolean(),
});
export type TokenResponse = z.infer<typeof tokenResponse>;

/** The answer to a create: the token text, shown this once and never again. */
export const createdTokenResponse = tokenResponse.extend({ token: z.string() });

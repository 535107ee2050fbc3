import { AppError } from "../lib/errors.js";

/** The one answer for every wrong credential: unknown user, wrong password, disabled account. */
export function invalidCredentials(): AppError {
  return new AppError("invalid-credentials", 401, "Not authenticated", {
    detail: "The username or password is wrong.",
  });
}

/** The password was right and a second factor is needed (or the one given was wrong). */
export function mfaRequired(): AppError {
  return new AppError("mfa-required", 401, "Two-factor code required", {
    detail:
      "Send a current code from your authenticator app, or a recovery code, as `totp` — or a passkey assertion as `passkey`.",
  });
}

/** Throttled: `Retry-After` says when to try again. */
export function tooManyAttempts(retryAfterSeconds: number): AppError {
  return new AppError("too-many-requests", 429, "Too many requests", {
    detail: "Too many attempts. Try again later.",
    headers: { "retry-after": String(Math.max(1, Math.ceil(retryAfterSeconds))) },
  });
}

/** A reset or registration link that is unknown, used or expired: one answer for all three. */
export function invalidLink(): AppError {
  return new AppError("invalid-token", 400, "Invalid or expired link", {
    detail: "This link is invalid, used or expired. Request a new one.",
  });
}

export function registrationClosed(): AppError {
  return new AppError("registration-closed", 403, "Registration is closed", {
    detail: "Ask an administrator to create your account.",
  });
}

/** 503: the feature needs to send mail and this production server has no `SMTP_URL`. */
export function mailUnavailable(feature: "registration" | "password reset"): AppError {
  return new AppError("mail-unavailable", 503, "Mail is not configured", {
    detail: `This server cannot send e-mail (no SMTP_URL), so ${feature} is unavailable. Ask an administrator.`,
  });
}

/**
 * 403: `REQUIRE_MFA` obliges this account to have a second factor and it has none. A session
 * may only enrol (`POST /api/v1/me/mfa/totp`, then `…/confirm`), see its profile, re-authenticate
 * and sign out; the account's API tokens are refused until enrolment is done.
 */
export function mfaEnrolmentRequired(): AppError {
  return new AppError("mfa-enrolment-required", 403, "Two-factor enrolment required", {
    detail:
      "This server requires two-factor authentication for your account. Turn it on (POST /api/v1/me/mfa/totp, then /api/v1/me/mfa/totp/confirm) to continue.",
  });
}

/**
 * 401: the action needs a recent proof of the password or a second factor and this session's
 * last one is older than `REAUTH_MINUTES`. `POST /api/v1/auth/reauth` renews it.
 */
export function reauthRequired(): AppError {
  return new AppError("reauth-required", 401, "Re-authentication required", {
    detail:
      "Confirm your password or a two-factor code (POST /api/v1/auth/reauth), then repeat the request.",
  });
}

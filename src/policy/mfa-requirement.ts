import type { MfaRequirement } from "../config/config.js";

/**
 * Whether `REQUIRE_MFA` obliges this user to have a second factor and they have none yet:
 * `admins` covers the admin role, `all` everyone. Such a user's session may only enrol
 * (see `beforeMfaEnrolment` routes) and their API tokens are refused until they have.
 */
export function mustEnrolSecondFactor(
  requirement: MfaRequirement,
  user: {
    role: "admin" | "auditor" | "member";
    totp_enabled_at: string | null;
    passkey_enabled_at: string | null;
  },
): boolean {
  if (hasSecondFactor(user)) return false;
  if (requirement === "all") return true;
  return requirement === "admins" && user.role === "admin";
}

/** A user has a second factor when TOTP is enabled or at least one passkey is registered. */
export function hasSecondFactor(user: {
  totp_enabled_at: string | null;
  passkey_enabled_at: string | null;
}): boolean {
  return user.totp_enabled_at !== null || user.passkey_enabled_at !== null;
}

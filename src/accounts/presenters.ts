import type { z } from "zod";
import type { meResponse, sessionResponse, userResponse } from "./accounts.schema.js";
import type { SessionRow } from "./sessions.repository.js";
import type { UserRow } from "./users.repository.js";

/** A user as others allowed to see them get it. Never the hash, TOTP secret or counters. */
export function presentUser(user: UserRow): z.infer<typeof userResponse> {
  return {
    id: user.id,
    username: user.username,
    email: user.email,
    role: user.role,
    disabled: user.disabled_at !== null,
    mfaEnabled: user.totp_enabled_at !== null,
    passkeyEnabled: user.passkey_enabled_at !== null,
    createdAt: user.created_at,
  };
}

/** The signed-in user's own profile, with their sign-in history. */
export function presentMe(user: UserRow): z.infer<typeof meResponse> {
  return {
    ...presentUser(user),
    lastLoginAt: user.last_login_at,
    lastLoginAddress: user.last_login_address,
    failedLoginsBeforeLastLogin: user.failed_logins_before_last_login,
    failedLoginsSinceLastLogin: user.failed_login_count,
  };
}

export function presentSession(
  session: SessionRow,
  currentId: string,
): z.infer<typeof sessionResponse> {
  return {
    id: session.id,
    createdAt: session.created_at,
    lastSeenAt: session.last_seen_at,
    // Whichever timeout comes first (ISO strings sort in time order).
    expiresAt: [session.expires_at, session.idle_expires_at].sort()[0] ?? session.expires_at,
    address: session.ip,
    userAgent: session.user_agent,
    current: session.id === currentId,
  };
}

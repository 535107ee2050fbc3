import { generateToken, hashToken, macToken, verifyMacToken } from "../crypto/tokens.js";
import type { Db } from "../db/schema.js";
import type { SecretBytes } from "../lib/secret-bytes.js";
import type { AccountsConfig, RequestOrigin } from "./context.js";
import { addMinutes } from "./context.js";
import type { SessionRow } from "./sessions.repository.js";
import { deleteSession, findSession, insertSession, touchSession } from "./sessions.repository.js";
import type { UserRow } from "./users.repository.js";
import { findUserById } from "./users.repository.js";

/** `last_seen_at` is written at most this often per session, not on every request. */
export const SESSION_TOUCH_INTERVAL_MS = 60_000;
/** Longest user-agent string kept for the sessions list. */
const USER_AGENT_MAX = 256;

/**
 * The session cookie's name. Over https it carries the `__Host-` prefix, which browsers only
 * accept with Secure, Path=/ and no Domain: a sibling subdomain cannot plant or overwrite it.
 */
export function sessionCookieName(https: boolean): string {
  return https ? "__Host-strongroom_session" : "strongroom_session";
}

/**
 * Starts a session: a fresh 256-bit token for the cookie, of which only the SHA-256 is stored.
 * Always a new token — a value the client already had is never adopted (no fixation).
 */
export async function createSession(
  db: Db,
  settings: Pick<AccountsConfig, "session">,
  input: { userId: string; origin: RequestOrigin; now: Date; mfaVerified: boolean },
): Promise<{ token: string; session: SessionRow }> {
  const token = generateToken();
  const now = input.now.toISOString();
  const session: SessionRow = {
    id: hashToken(token),
    user_id: input.userId,
    created_at: now,
    last_seen_at: now,
    expires_at: addMinutes(input.now, settings.session.absoluteHours * 60),
    idle_expires_at: addMinutes(input.now, settings.session.idleMinutes),
    reauth_at: now,
    mfa_verified_at: input.mfaVerified ? now : null,
    ip: input.origin.address,
    user_agent: input.origin.userAgent?.slice(0, USER_AGENT_MAX) ?? null,
  };
  await insertSession(db, session);
  return { token, session };
}

/**
 * The live session and user for a cookie token, or null when the token is unknown, past its
 * idle or absolute timeout, or its user is disabled. Expired sessions are deleted on sight.
 */
export async function resolveSession(
  db: Db,
  settings: Pick<AccountsConfig, "session">,
  token: string,
  now: Date,
): Promise<{ session: SessionRow; user: UserRow } | null> {
  if (token.length === 0 || token.length > 128) return null;
  const session = await findSession(db, hashToken(token));
  if (session === null) return null;
  const nowIso = now.toISOString();
  if (session.expires_at <= nowIso || session.idle_expires_at <= nowIso) {
    await deleteSession(db, session.id);
    return null;
  }
  const user = await findUserById(db, session.user_id);
  if (user === null || user.disabled_at !== null) return null;
  if (now.getTime() - Date.parse(session.last_seen_at) >= SESSION_TOUCH_INTERVAL_MS) {
    const idleExpiresAt = addMinutes(now, settings.session.idleMinutes);
    await touchSession(db, session.id, nowIso, idleExpiresAt);
    return { session: { ...session, last_seen_at: nowIso, idle_expires_at: idleExpiresAt }, user };
  }
  return { session, user };
}

/** Replaces a session with a new one for the same user (privilege change, password change). */
export async function rotateSession(
  db: Db,
  settings: Pick<AccountsConfig, "session">,
  old: SessionRow,
  input: { origin: RequestOrigin; now: Date; mfaVerified: boolean },
): Promise<{ token: string; session: SessionRow }> {
  await deleteSession(db, old.id);
  return createSession(db, settings, { userId: old.user_id, ...input });
}

/** The CSRF token of a session: a MAC of its id under SECRET_KEY (nothing stored). */
export function csrfTokenForSession(secretKey: SecretBytes, sessionId: string): string {
  return macToken(secretKey, "csrf", sessionId);
}

/** Checks a presented CSRF token against a session, in constant time. */
export function verifySessionCsrfToken(
  secretKey: SecretBytes,
  sessionId: string,
  presented: string,
): boolean {
  return verifyMacToken(secretKey, "csrf", sessionId, presented);
}

import type { FastifyRequest } from "fastify";
import type { MfaRequirement } from "../config/config.js";
import type { Db } from "../db/schema.js";
import type { Authenticator } from "../http/authentication.js";
import { logSecurityEvent } from "../http/security-events.js";
import { AppError } from "../lib/errors.js";
import { type BearerRefusal, resolveBearerToken } from "./tokens.service.js";

/** `Bearer <token>`, scheme case-insensitive (RFC 9110 §11.1), one or more spaces. */
const BEARER_PATTERN = /^bearer +(\S+)$/i;
/** Longest Authorization header looked at; ours are 53 characters. */
const AUTHORIZATION_MAX_LENGTH = 256;

/**
 * 401 for a request that presented credentials we do not accept. It carries the
 * `WWW-Authenticate` challenge of RFC 6750 §3 and the same `unauthenticated` code as any other
 * 401, and says nothing about which check failed.
 */
function invalidToken(): AppError {
  return new AppError("unauthenticated", 401, "Not authenticated", {
    detail: "The API token is invalid, expired or revoked.",
    headers: { "www-authenticate": 'Bearer realm="strongroom", error="invalid_token"' },
  });
}

/**
 * Logs the refusal as `security.token_refused` (reason, and the token's row id and owner
 * when it was found — never the token) and returns the 401 to throw.
 */
function refuse(request: FastifyRequest, refusal: BearerRefusal): AppError {
  logSecurityEvent(request, "security.token_refused", {
    reason: refusal.reason,
    userId: refusal.userId,
    bearerId: refusal.tokenId,
    via: "token",
  });
  return invalidToken();
}

/**
 * The authenticator for API clients: `Authorization: Bearer sr_…`. Without an Authorization
 * header it returns null and the next authenticator (the session cookie) is asked.
 *
 * Headers of other schemes (e.g. `Basic`, sent by browsers behind an authenticating proxy)
 * are ignored. A `Bearer` header must carry a live token, or this throws a 401: a request whose
 * credentials are refused must never go on as someone else — say, as the browser session
 * whose cookie rides along — nor as anonymous. Place it first in the authenticator list so a
 * bearer request is never taken for a session one (bearer requests need no CSRF token).
 * `now` is the clock (tests inject one); `requireMfa` is `REQUIRE_MFA`.
 */
export function bearerAuthenticator(
  db: Db,
  now: () => Date,
  requireMfa: MfaRequirement,
): Authenticator {
  return async (request) => {
    const header = request.headers.authorization;
    if (header === undefined) return null;
    // Other schemes (Basic from a protecting proxy, say) are not ours to judge: the request
    // goes on as if it had none. Anything claiming to be a bearer token must be a live one.
    if (!/^bearer(\s|$)/i.test(header)) return null;
    const malformed: BearerRefusal = { reason: "malformed", tokenId: null, userId: null };
    if (header.length > AUTHORIZATION_MAX_LENGTH) throw refuse(request, malformed);
    const match = BEARER_PATTERN.exec(header);
    const text = match?.[1];
    if (text === undefined) throw refuse(request, malformed);
    const resolved = await resolveBearerToken(db, text, now(), requireMfa);
    if (resolved.principal === null) throw refuse(request, resolved.refusal);
    return resolved.principal;
  };
}

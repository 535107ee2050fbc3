import type { FastifyInstance, FastifyRequest } from "fastify";
import { AppError, type SecurityEvent } from "../lib/errors.js";
import { redactUrl } from "../logger.js";

/** What a security event line says besides the fields every one carries. */
export type SecurityEventFields = Record<string, string | number | null>;

const MESSAGES: Record<SecurityEvent, string> = {
  "security.token_refused": "bearer token refused",
  "security.access_denied": "access denied",
  "security.csrf_refused": "CSRF check refused",
  "security.rate_limited": "caller over its request budget",
  "security.passkey_counter": "passkey counter did not advance: possible cloned authenticator",
  "security.passkey_refused": "passkey assertion refused",
};

/**
 * Writes one security event to the application log, at `warn`: the stable `event` name, the
 * caller's user id and how they authenticated (`via`: session or token, with the API
 * token's id as `bearerId` — named so that the redaction of keys containing "token" keeps
 * it; never a token, cookie or CSRF value), the client address, the method and the URL
 * (sensitive query parameters redacted), plus `fields`. Lines go to the log, not the audit
 * chain, so anonymous traffic cannot grow the chain.
 */
export function logSecurityEvent(
  request: FastifyRequest,
  event: SecurityEvent,
  fields: SecurityEventFields = {},
): void {
  // A signed-in caller's `userId`, `via` and `bearerId` are already bound to request.log
  // (registerAuthentication); an anonymous one is said to be so.
  const anonymous = request.principal === null ? { userId: null, via: null } : {};
  request.log.warn(
    {
      event,
      ...anonymous,
      address: request.ip,
      method: request.method,
      url: redactUrl(request.url),
      ...fields,
    },
    MESSAGES[event],
  );
}

/**
 * Logs every refusal that carries a `securityEvent` (a 403 from the policy, the 404 that
 * hides a vault, a CSRF refusal) as that event, whichever hook or handler threw it. Errors
 * that a page handler catches and renders itself are not seen here.
 */
export function registerSecurityEventLog(app: FastifyInstance): void {
  app.addHook("onError", async (request, _reply, error) => {
    if (!(error instanceof AppError) || error.securityEvent === undefined) return;
    logSecurityEvent(request, error.securityEvent, {
      status: error.status,
      errorCode: error.code,
    });
  });
}

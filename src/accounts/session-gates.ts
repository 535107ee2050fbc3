import type { FastifyInstance, FastifyRequest } from "fastify";
import { mfaEnrolmentRequired, reauthRequired } from "./errors.js";
import { hasRecentProof } from "./step-up.service.js";

/**
 * True when `REQUIRE_MFA` holds the caller to enrolment (a session or token of a user who
 * must have a second factor and has none) and the route does not serve such callers: only
 * routes marked `beforeMfaEnrolment` do, and those reached without credentials anyway
 * (`public`, `csrf: "origin-only"`), which grant nothing a stranger could not have.
 */
export function blockedUntilMfaEnrolment(request: FastifyRequest): boolean {
  if (request.principal?.mfaEnrolmentRequired !== true) return false;
  const route = request.routeOptions.config;
  return !(
    route.beforeMfaEnrolment === true ||
    route.public === true ||
    route.csrf === "origin-only"
  );
}

/**
 * True when the route is marked `stepUp`, the caller is a browser session, and that session
 * has not proved the password or a second factor in the last `reauthMinutes`. Bearer tokens
 * are exempt: they prove nothing interactively, and their scopes and expiry are their limit.
 */
export function missingStepUp(request: FastifyRequest, now: Date, reauthMinutes: number): boolean {
  if (request.routeOptions.config.stepUp === undefined) return false;
  const principal = request.principal;
  if (principal === null || principal.kind !== "session") return false;
  return !hasRecentProof(principal, now, reauthMinutes);
}

/**
 * The API's two session gates, registered on the `/api/v1` scope: enforced two-factor
 * (403 `mfa-enrolment-required`, before the body is even parsed) and step-up
 * re-authentication (401 `reauth-required`, after the CSRF check and validation, so a forged
 * or malformed request never learns whether the session is fresh).
 */
export function registerApiSessionGates(
  api: FastifyInstance,
  settings: { reauthMinutes: number; now: () => Date },
): void {
  api.addHook("onRequest", async (request) => {
    if (blockedUntilMfaEnrolment(request)) throw mfaEnrolmentRequired();
  });
  api.addHook("preHandler", async (request) => {
    if (missingStepUp(request, settings.now(), settings.reauthMinutes)) throw reauthRequired();
  });
}

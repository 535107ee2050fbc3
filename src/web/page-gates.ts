import type { FastifyInstance } from "fastify";
import type { AccountsContext } from "../accounts/context.js";
import { blockedUntilMfaEnrolment, missingStepUp } from "../accounts/session-gates.js";
import { safeNextPath } from "./web-context.js";

/** Where a session held to two-factor enrolment is sent: the settings page, which offers it. */
export const MFA_ENROLMENT_PAGE = "/settings";

/** A route's `stepUp` path with its `:params` filled in from the request (each encoded). */
function returnPath(pattern: string, params: unknown): string {
  const values = (params ?? {}) as Record<string, unknown>;
  return pattern.replace(/:([A-Za-z0-9_]+)/g, (_, name: string) =>
    encodeURIComponent(String(values[name] ?? "")),
  );
}

/**
 * The pages' two session gates, the counterparts of the API's (session-gates.ts): a session
 * held to two-factor enrolment (`REQUIRE_MFA`) is redirected to the enrolment page from any
 * page not marked `beforeMfaEnrolment`; a `stepUp` form posted by a session without a recent
 * proof is redirected to `/reauth`, which comes back to the route's `stepUp` path afterwards.
 * The step-up check runs after the CSRF check, so a forged post learns nothing.
 */
export function registerPageSessionGates(app: FastifyInstance, ctx: AccountsContext): void {
  app.addHook("onRequest", async (request, reply) => {
    if (!blockedUntilMfaEnrolment(request)) return;
    return reply.redirect(MFA_ENROLMENT_PAGE, 303);
  });
  app.addHook("preHandler", async (request, reply) => {
    if (!missingStepUp(request, ctx.now(), ctx.config.reauthMinutes)) return;
    const stepUp = request.routeOptions.config.stepUp;
    const next = safeNextPath(
      typeof stepUp === "string" ? returnPath(stepUp, request.params) : "/",
    );
    return reply.redirect(`/reauth?next=${encodeURIComponent(next)}`, 303);
  });
}

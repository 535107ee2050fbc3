import type { FastifyInstance, FastifyRequest } from "fastify";
import { AppError } from "../lib/errors.js";
import type { Limiter, ThrottleStore } from "../throttle/throttle.js";
import { logSecurityEvent } from "./security-events.js";

/** The window `API_RATE_LIMIT` counts in: requests per minute. */
const WINDOW_SECONDS = 60;

/** 429 for a caller past its budget; `Retry-After` says when the window ends. */
function rateLimited(retryAfterSeconds: number): AppError {
  return new AppError("too-many-requests", 429, "Too many requests", {
    detail: "This credential has made too many requests. Slow down and try again later.",
    headers: { "retry-after": String(retryAfterSeconds) },
  });
}

/**
 * Whose budget a request spends: an API token's own (so one leaked or looping token cannot
 * starve its owner's other machines), or the user's for browser sessions (signing in again
 * must not buy a fresh budget).
 */
function budgetKey(request: FastifyRequest): string | null {
  const principal = request.principal;
  if (principal === null || request.routeOptions.config.public === true) return null;
  return principal.kind === "token" && principal.tokenId !== null
    ? `token:${principal.tokenId}`
    : `user:${principal.userId}`;
}

/**
 * `API_RATE_LIMIT`: every authenticated request — API and pages, session or bearer token —
 * spends one point of its caller's budget of `requestsPerMinute`; past it the caller gets 429
 * `too-many-requests` with `Retry-After` until the minute (counted from the budget's first
 * request) is over. Anonymous requests and public routes are not counted here: sign-in,
 * sign-up, reset and share links have their own, stricter per-address limits, and signing
 * out must work even for a caller that has run out. Counts live in the throttle store,
 * so with `REDIS_URL` they are shared by every instance (and, while Redis is away, each
 * instance allows half, as for the other limits). The first request over the budget is
 * logged once per window as `security.rate_limited`, not every refused one after it: a
 * looping client must not flood the log. 0 turns the limit off.
 *
 * Runs as an `onRequest` hook registered after authentication, so the caller is known and
 * nothing of the request (body, route handler) is processed for a refused one.
 */
export function registerCallerRateLimit(
  app: FastifyInstance,
  options: { throttle: ThrottleStore; requestsPerMinute: number },
): void {
  if (options.requestsPerMinute === 0) return;
  const limiter: Limiter = options.throttle.limiter({
    name: "api-caller",
    points: options.requestsPerMinute,
    durationSeconds: WINDOW_SECONDS,
    blockSeconds: 0,
  });
  app.addHook("onRequest", async (request) => {
    const key = budgetKey(request);
    if (key === null) return;
    const decision = await limiter.consume(key);
    if (decision.allowed) {
      if (decision.remaining === 0)
        logSecurityEvent(request, "security.rate_limited", {
          limitPerMinute: options.requestsPerMinute,
        });
      return;
    }
    throw rateLimited(decision.retryAfterSeconds);
  });
}

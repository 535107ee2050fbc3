import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { unauthenticated } from "../lib/errors.js";

/** Who is making a request, as every authorization decision sees it. */
export interface Principal {
  /** How the caller proved who they are: a browser session cookie or a bearer API token. */
  kind: "session" | "token";
  userId: string;
  username: string;
  role: "admin" | "auditor" | "member";
  /** The session's id (the hash of its cookie token) when `kind` is "session". */
  sessionId: string | null;
  /** The API token's id when `kind` is "token". */
  tokenId: string | null;
  /** The API token's scopes (vault ids and permissions) when `kind` is "token", else null. */
  scopes: ReadonlyArray<{ vaultId: string; permission: "read" | "write" }> | null;
  /**
   * When the session last proved the password or a second factor (ISO time: sign-in,
   * re-authentication). Absent or null — tokens, principals built outside a request — counts
   * as no recent proof.
   */
  provenAt?: string | null;
  /**
   * The user must enrol a second factor (`REQUIRE_MFA`) and has none yet: only routes marked
   * `beforeMfaEnrolment` (and public ones) serve them. Absent counts as false.
   */
  mfaEnrolmentRequired?: boolean;
}

declare module "fastify" {
  interface FastifyRequest {
    /** The authenticated caller, or null. Set before any route handler runs. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /**
     * CSRF protection of an unsafe route: "token" (default: session callers must send the
     * token), or "origin-only" for the few routes a caller reaches before having a session
     * (login, registration, password reset) — they still get the Origin check.
     */
    csrf?: "token" | "origin-only";
    /**
     * Answers callers without credentials (the API description). Routes with
     * `csrf: "origin-only"` are reached before a session exists and count as public too.
     * Used by the OpenAPI document; the handler still decides what a caller may do.
     */
    public?: boolean;
    /**
     * `false` for a route that checks a credential of its own (`/metrics` and its scraper
     * token), or needs none and must not depend on the database (`/healthz`, `/readyz`):
     * no authenticator runs, so `request.principal` stays null and a bearer value that is
     * not an API token is not refused before the route sees it.
     */
    authenticate?: boolean;
    /**
     * Serves a session whose user must still enrol a second factor (`REQUIRE_MFA`): their
     * profile, enrolment, re-authentication, sign-out. Every other non-public route refuses them.
     */
    beforeMfaEnrolment?: boolean;
    /**
     * Needs a recent proof of the password or a second factor (`REAUTH_MINUTES`) from session
     * callers; bearer tokens are exempt. `true` on API routes (401 `reauth-required`); on
     * pages, the path to come back to after re-authenticating, `:param`s filled in from the
     * request (e.g. `/vaults/:vault`).
     */
    stepUp?: true | string;
  }
}

/** Finds the caller from a request (cookie, bearer header); null when it does not apply. */
export type Authenticator = (
  request: FastifyRequest,
  reply: FastifyReply,
) => Promise<Principal | null>;

/**
 * Runs the authenticators the capabilities provide, in order, for every request (except on
 * routes that opt out with `authenticate: false`); the first that recognises the caller
 * wins. Capabilities hand these in through `app.ts`, so this plugin depends on none of them.
 */
export function registerAuthentication(
  app: FastifyInstance,
  authenticators: readonly Authenticator[],
): void {
  app.decorateRequest("principal", null);
  app.addHook("onRequest", async (request, reply) => {
    if (request.routeOptions.config.authenticate === false) return;
    for (const authenticate of authenticators) {
      const principal = await authenticate(request, reply);
      if (principal !== null) {
        request.principal = principal;
        // Every later line of the request (its errors, "request completed") says who it was
        // and how they authenticated — never with what: `bearerId` is the API token's id.
        const log = request.log.child({
          userId: principal.userId,
          via: principal.kind,
          ...(principal.tokenId === null ? {} : { bearerId: principal.tokenId }),
        });
        request.log = log;
        reply.log = log;
        return;
      }
    }
  });
}

/** The caller, or a 401 when the request is not authenticated. */
export function requirePrincipal(request: FastifyRequest): Principal {
  if (request.principal === null) throw unauthenticated();
  return request.principal;
}

/** The caller when it is a browser session, or a 401 (for routes that only make sense there). */
export function requireSession(request: FastifyRequest): Principal & { sessionId: string } {
  const principal = requirePrincipal(request);
  if (principal.kind !== "session" || principal.sessionId === null) {
    throw unauthenticated("This endpoint needs a signed-in browser session.");
  }
  return principal as Principal & { sessionId: string };
}

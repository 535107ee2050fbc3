import type { FastifyInstance, FastifyRequest } from "fastify";
import { AppError } from "../lib/errors.js";
import type { Principal } from "./authentication.js";

const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The header API clients send the token in; HTML forms send a `_csrf` field instead. */
export const CSRF_HEADER = "x-csrf-token";
export const CSRF_FORM_FIELD = "_csrf";

export interface CsrfOptions {
  /** The public origin (scheme://host[:port]) browsers reach us at. */
  publicOrigin: string;
  /**
   * Also accept loopback origins (localhost, 127.0.0.1, [::1]) on any port: development
   * only, so `http://localhost:8080` works when PUBLIC_URL says 127.0.0.1.
   */
  allowLoopbackOrigins: boolean;
  /** Checks a presented token against the caller's session, in constant time. */
  verifyToken: (principal: Principal, presented: string) => boolean;
}

function csrfRefused(detail: string): AppError {
  return new AppError("csrf-failed", 403, "Forbidden", {
    detail,
    securityEvent: "security.csrf_refused",
  });
}

const LOOPBACK_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$/;

/**
 * Origins a browser request may come from: the public URL's only. The Host header is not
 * trusted for this (a DNS-rebinding page controls it); development may add loopback.
 */
function isAllowedOrigin(origin: string, options: CsrfOptions): boolean {
  return (
    origin === options.publicOrigin ||
    (options.allowLoopbackOrigins && LOOPBACK_ORIGIN.test(origin))
  );
}

function presentedToken(request: FastifyRequest): string | null {
  const header = request.headers[CSRF_HEADER];
  if (typeof header === "string" && header !== "") return header;
  const body = request.body as Record<string, unknown> | null | undefined;
  const field = body !== null && typeof body === "object" ? body[CSRF_FORM_FIELD] : undefined;
  return typeof field === "string" && field !== "" ? field : null;
}

/**
 * Cross-site request forgery defence for every unsafe method, in two layers:
 * 1. Fetch metadata and Origin: a browser request marked `Sec-Fetch-Site: cross-site` or
 *    `same-site`, or with an `Origin` that is not ours, is refused (also on login, against
 *    login CSRF). Bearer-token requests are exempt: a browser never attaches them by itself.
 * 2. A synchronizer token bound to the session (a MAC under SECRET_KEY), required whenever
 *    the caller is authenticated by the session cookie; missing or wrong → 403.
 * Runs after body parsing (forms carry the token in a field), before validation.
 */
export function registerCsrfProtection(app: FastifyInstance, options: CsrfOptions): void {
  app.addHook("preValidation", async (request) => {
    if (!UNSAFE_METHODS.has(request.method)) return;
    if (request.principal?.kind === "token") return;

    const fetchSite = request.headers["sec-fetch-site"];
    if (fetchSite === "cross-site" || fetchSite === "same-site") {
      throw csrfRefused("Cross-site requests are not accepted.");
    }
    // Browsers that send fetch metadata have vouched for the request being same-origin;
    // their Origin may then be "null" (form posts under `Referrer-Policy: no-referrer`).
    // Without fetch metadata, a present Origin must be ours.
    const origin = request.headers.origin;
    if (fetchSite !== "same-origin" && origin !== undefined && !isAllowedOrigin(origin, options)) {
      throw csrfRefused("The request's origin is not allowed.");
    }

    if (request.principal?.kind !== "session") return;
    if (request.routeOptions.config.csrf === "origin-only") return;
    const token = presentedToken(request);
    if (token === null) throw csrfRefused("The CSRF token is missing.");
    if (!options.verifyToken(request.principal, token))
      throw csrfRefused("The CSRF token is wrong.");
  });
}

import type { FastifyInstance } from "fastify";
import { methodNotAllowed } from "../lib/errors.js";

/** The only methods Strongroom answers. TRACE, CONNECT, WebDAV verbs and the rest get 405. */
export const ALLOWED_METHODS: readonly string[] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

/**
 * Refuses unsupported methods before routing. TRACE in particular would echo request
 * headers (cookies included) back to a script (cross-site tracing).
 */
export function registerMethodGuard(app: FastifyInstance): void {
  app.addHook("onRequest", async (request) => {
    if (!ALLOWED_METHODS.includes(request.method)) throw methodNotAllowed(ALLOWED_METHODS);
  });
}

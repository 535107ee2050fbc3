import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { ZodTypeProvider } from "../http/zod.js";
import { serviceUnavailable } from "../lib/errors.js";

/** How long `/readyz` waits for the database before calling it unreachable. */
export const READINESS_TIMEOUT_MS = 2000;

const statusResponse = z.object({ status: z.string() });

export interface HealthDependencies {
  /** Resolves true when the database answers within `timeoutMs`; never throws. */
  pingDatabase: (timeoutMs: number) => Promise<boolean>;
}

/**
 * `/healthz` says the process is alive (for restarts); `/readyz` says it can serve (for load
 * balancers): 503 problem+json while the database is unreachable, 200 again once it returns.
 */
export async function healthRoutes(app: FastifyInstance, deps: HealthDependencies): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  // No authentication: a probe that happens to carry a session cookie must not make liveness
  // depend on the database (the session lookup), nor readiness on anything but the ping.
  const unauthenticated = { authenticate: false } as const;
  routes.get(
    "/healthz",
    { config: unauthenticated, schema: { response: { 200: statusResponse } } },
    async () => ({
      status: "ok",
    }),
  );
  routes.get(
    "/readyz",
    { config: unauthenticated, schema: { response: { 200: statusResponse } } },
    async () => {
      if (!(await deps.pingDatabase(READINESS_TIMEOUT_MS)))
        throw serviceUnavailable("The database is unreachable.");
      return { status: "ready" };
    },
  );
}

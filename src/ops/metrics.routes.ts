import type { FastifyInstance } from "fastify";
import { constantTimeEqual } from "../lib/constant-time.js";
import { AppError } from "../lib/errors.js";
import type { SecretBytes } from "../lib/secret-bytes.js";
import type { AppMetrics } from "./metrics.js";

/** `Bearer <token>`, scheme case-insensitive (RFC 9110 §11.1), one or more spaces. */
const BEARER_PATTERN = /^bearer +(\S+)$/i;

export interface MetricsRouteOptions {
  metrics: AppMetrics;
  /** What a scraper must present as `Authorization: Bearer <token>` (`METRICS_TOKEN`). */
  token: SecretBytes;
}

/** 401 for a scrape without the right token; says nothing about what was wrong with it. */
function metricsUnauthenticated(): AppError {
  return new AppError("unauthenticated", 401, "Not authenticated", {
    detail: "Metrics need the metrics bearer token.",
    headers: { "www-authenticate": 'Bearer realm="strongroom-metrics"' },
  });
}

/**
 * Counts every answered request (an `onResponse` hook on the root, so 404s and errors are
 * counted too) and serves `GET /metrics` in Prometheus text format to callers presenting
 * `METRICS_TOKEN`. Call it on the root instance before any route is registered, and only
 * when metrics are on: without a token the route does not exist and answers 404 like any
 * unknown path.
 */
export function registerMetrics(app: FastifyInstance, options: MetricsRouteOptions): void {
  const { metrics, token } = options;

  app.addHook("onResponse", async (request, reply) => {
    metrics.observeRequest({
      method: request.method,
      // The pattern the router matched, never `request.url`: raw URLs carry vault and
      // secret names and query strings, which must not reach a label.
      routePattern: request.is404 ? null : (request.routeOptions.url ?? null),
      status: reply.statusCode,
      durationSeconds: reply.elapsedTime / 1000,
    });
  });

  app.get(
    "/metrics",
    // The scraper's token is not an API token: no user authenticator runs here (they would
    // refuse it, and look it up in the database on every scrape); the handler checks it.
    { config: { authenticate: false } },
    async (request, reply) => {
      const presented = BEARER_PATTERN.exec(request.headers.authorization ?? "")?.[1] ?? "";
      // Compared in constant time, so response timing does not reveal how much matched.
      if (!constantTimeEqual(presented, token.reveal())) throw metricsUnauthenticated();
      const body = await metrics.registry.metrics();
      reply.header("cache-control", "no-store");
      reply.type(metrics.registry.contentType);
      return body;
    },
  );
}

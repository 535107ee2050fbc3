/**
 * The application's Prometheus metrics (prom-client), one registry per app so that several
 * apps in one process (tests, `doctor`) never share or collide on a metric.
 *
 * No label ever carries a value a client chose: routes are labelled with their registered
 * pattern (`/api/v1/vaults/:vault/secrets/:name`) or `unmatched`, methods come from a fixed
 * set, statuses are numbers, and every other label is a constant of this file. A vault slug,
 * secret name, username or query string therefore cannot reach a scrape, and cannot blow up
 * the number of series either.
 */
import type { Logger } from "pino";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** How long a scrape waits for the database's `select 1`, in milliseconds. */
export const METRICS_DATABASE_PING_TIMEOUT_MS = 1_000;
/** The route label of requests that matched no route (404s, probes, scanners). */
export const UNMATCHED_ROUTE = "unmatched";
/** The method label of any method outside {@link LABELLED_METHODS}. */
export const OTHER_METHOD = "OTHER";
const LABELLED_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** Request latency buckets in seconds: Argon2id sign-ins take tens of milliseconds. */
const DURATION_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Where the health gauges read from; each is asked at scrape time. */
export interface MetricsSources {
  /** Resolves true when the database answers within `timeoutMs`; never throws. */
  pingDatabase(timeoutMs: number): Promise<boolean>;
  /** The PostgreSQL pool's counts; null on SQLite (no pool gauges then). */
  poolStats(): { total: number; idle: number; waiting: number; max: number } | null;
  /** Whether Redis is ready; null without `REDIS_URL` (no `strongroom_redis_up` then). */
  redisConnected(): boolean | null;
  /** Told when recording a metric fails; recording never throws to its caller. */
  logger: Logger;
}

/** One answered request, as the metrics see it. */
export interface ObservedRequest {
  method: string;
  /** The registered route pattern, or null when no route matched. */
  routePattern: string | null;
  status: number;
  durationSeconds: number;
}

/** The metrics of one app. */
export interface AppMetrics {
  registry: Registry;
  /** Counts a request and its latency. Never throws. */
  observeRequest(request: ObservedRequest): void;
  /** Counts a committed audit event when it is one the metrics track. Never throws. */
  countAuditEvent(action: string): void;
}

/**
 * Creates the registry with prom-client's process metrics (CPU, memory, event-loop lag, GC,
 * handles) and Strongroom's own. The process metrics attach a GC observer and an event-loop
 * delay monitor that live as long as the process: create this once per app, and only when
 * metrics are on.
 */
export function createAppMetrics(sources: MetricsSources): AppMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry });

  const httpLabels = ["method", "route", "status"] as const;
  const requests = new Counter({
    name: "strongroom_http_requests_total",
    help: "HTTP requests answered, by method, route pattern and status.",
    labelNames: httpLabels,
    registers,
  });
  const durations = new Histogram({
    name: "strongroom_http_request_duration_seconds",
    help: "Time to answer an HTTP request in seconds, by method, route pattern and status.",
    labelNames: httpLabels,
    buckets: DURATION_BUCKETS_SECONDS,
    registers,
  });

  const loginFailures = new Counter({
    name: "strongroom_login_failures_total",
    help: "Failed sign-ins: a wrong credential (factor=password) or second factor (factor=second_factor).",
    labelNames: ["factor"] as const,
    registers,
  });
  const lockouts = new Counter({
    name: "strongroom_login_lockouts_total",
    help: "Sign-in failures that used up a throttling limit and so started a lockout.",
    registers,
  });
  const throttled = new Counter({
    name: "strongroom_login_throttled_total",
    help: "Sign-in attempts refused, unchecked, because a lockout or throttle was in force.",
    registers,
  });
  const reveals = new Counter({
    name: "strongroom_secret_reveals_total",
    help: "Secret values handed to a caller: the current version (kind=current) or a numbered one (kind=version).",
    labelNames: ["kind"] as const,
    registers,
  });
  // Present from the start at 0, so a rate over the first scrapes is defined.
  for (const factor of ["password", "second_factor"]) loginFailures.inc({ factor }, 0);
  for (const kind of ["current", "version"]) reveals.inc({ kind }, 0);
  lockouts.inc(0);
  throttled.inc(0);

  /** Audit action → the counter it increments. Actions not listed are not counted. */
  const byAuditAction: Record<string, () => void> = {
    "login.failure": () => loginFailures.inc({ factor: "password" }),
    "login.mfa-failure": () => loginFailures.inc({ factor: "second_factor" }),
    "login.lockout": () => lockouts.inc(),
    "login.throttled": () => throttled.inc(),
    "secret.reveal": () => reveals.inc({ kind: "current" }),
    "secret.reveal-version": () => reveals.inc({ kind: "version" }),
  };

  registerHealthGauges(sources, registers);

  return {
    registry,
    observeRequest(request) {
      try {
        const labels = {
          method: LABELLED_METHODS.has(request.method) ? request.method : OTHER_METHOD,
          route: request.routePattern ?? UNMATCHED_ROUTE,
          status: String(request.status),
        };
        requests.inc(labels);
        durations.observe(labels, request.durationSeconds);
      } catch (error) {
        sources.logger.warn({ err: error }, "metrics: a request could not be counted");
      }
    },
    countAuditEvent(action) {
      try {
        byAuditAction[action]?.();
      } catch (error) {
        sources.logger.warn({ err: error }, "metrics: an audit event could not be counted");
      }
    },
  };
}

/**
 * `strongroom_database_up` (the `/readyz` ping, made at scrape time), the PostgreSQL pool's
 * counts, and `strongroom_redis_up`. Gauges that do not apply to this deployment (pool
 * gauges on SQLite, Redis without `REDIS_URL`) are left out rather than reported as 0, so an
 * alert on `strongroom_redis_up == 0` fires only where there is a Redis to lose.
 */
function registerHealthGauges(sources: MetricsSources, registers: Registry[]): void {
  new Gauge({
    name: "strongroom_database_up",
    help: `1 when the database answered select 1 within ${METRICS_DATABASE_PING_TIMEOUT_MS} ms during this scrape, else 0.`,
    registers,
    async collect() {
      this.set((await sources.pingDatabase(METRICS_DATABASE_PING_TIMEOUT_MS)) ? 1 : 0);
    },
  });

  if (sources.poolStats() !== null) {
    const poolGauge = (
      name: string,
      help: string,
      read: (stats: NonNullable<ReturnType<MetricsSources["poolStats"]>>) => number,
    ): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const stats = sources.poolStats();
          if (stats !== null) this.set(read(stats));
        },
      });
    };
    poolGauge(
      "strongroom_database_pool_connections",
      "Open PostgreSQL connections in the pool, idle or in use.",
      (stats) => stats.total,
    );
    poolGauge(
      "strongroom_database_pool_idle_connections",
      "Open PostgreSQL connections waiting for a query.",
      (stats) => stats.idle,
    );
    poolGauge(
      "strongroom_database_pool_waiting_requests",
      "Queries queued for a connection because the pool is exhausted.",
      (stats) => stats.waiting,
    );
    poolGauge(
      "strongroom_database_pool_max_connections",
      "The most connections the pool will open.",
      (stats) => stats.max,
    );
  }

  if (sources.redisConnected() !== null) {
    new Gauge({
      name: "strongroom_redis_up",
      help: "1 when the throttling Redis connection is ready, else 0 (limits are per instance meanwhile).",
      registers,
      collect() {
        this.set(sources.redisConnected() === true ? 1 : 0);
      },
    });
  }
}

import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import pino from "pino";
import type { MetricsSources } from "./metrics.js";
import { createAppMetrics } from "./metrics.js";

function sources(overrides: Partial<MetricsSources> = {}): MetricsSources & { lines: string[] } {
  const lines: string[] = [];
  const logger = pino(
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString("utf8"));
        callback();
      },
    }),
  );
  return {
    pingDatabase: async () => true,
    poolStats: () => null,
    redisConnected: () => null,
    logger,
    lines,
    ...overrides,
  };
}

/** The value of one sample line, e.g. `name{a="b"} 3`; undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("app metrics", () => {
  it("keeps each app's metrics apart: two in one process neither collide nor share counts", async () => {
    const a = createAppMetrics(sources());
    const b = createAppMetrics(sources());
    a.countAuditEvent("login.failure");
    a.countAuditEvent("login.failure");
    b.countAuditEvent("login.failure");
    const series = 'strongroom_login_failures_total{factor="password"}';
    assert.equal(sample(await a.registry.metrics(), series), 2);
    assert.equal(sample(await b.registry.metrics(), series), 1);
  });

  it("labels methods from a fixed set and unmatched requests with a constant", async () => {
    const metrics = createAppMetrics(sources());
    metrics.observeRequest({
      method: "PROPFIND",
      routePattern: null,
      status: 404,
      durationSeconds: 0.001,
    });
    metrics.observeRequest({
      method: "GET",
      routePattern: "/api/v1/vaults/:vault",
      status: 200,
      durationSeconds: 0.002,
    });
    const text = await metrics.registry.metrics();
    assert.equal(
      sample(text, 'strongroom_http_requests_total{method="OTHER",route="unmatched",status="404"}'),
      1,
    );
    assert.equal(
      sample(
        text,
        'strongroom_http_request_duration_seconds_count{method="GET",route="/api/v1/vaults/:vault",status="200"}',
      ),
      1,
    );
    assert.ok(!text.includes("PROPFIND"));
  });

  it("counts only the audit actions it knows, so an action name never becomes a label", async () => {
    const metrics = createAppMetrics(sources());
    const ours = async (): Promise<string[]> =>
      (await metrics.registry.metrics()).split("\n").filter((l) => l.startsWith("strongroom_"));
    const before = await ours();
    metrics.countAuditEvent("password.change");
    metrics.countAuditEvent('login.failure"} 99\nfake_metric 1');
    assert.deepEqual(await ours(), before);
  });

  it("never throws to the request: a value prom-client refuses is logged and skipped", async () => {
    const src = sources();
    const metrics = createAppMetrics(src);
    metrics.observeRequest({
      method: "GET",
      routePattern: "/healthz",
      status: 200,
      durationSeconds: Number.NaN,
    });
    assert.equal(src.lines.length, 1);
    assert.match(src.lines[0] ?? "", /could not be counted/);
  });

  it("reports the database, and the pool and Redis only where they exist", async () => {
    let up = true;
    const bare = createAppMetrics(sources({ pingDatabase: async () => up }));
    let text = await bare.registry.metrics();
    assert.equal(sample(text, "strongroom_database_up"), 1);
    assert.ok(!text.includes("strongroom_database_pool_"), "no pool on SQLite");
    assert.ok(!text.includes("strongroom_redis_up"), "no Redis configured: no gauge");
    up = false;
    assert.equal(sample(await bare.registry.metrics(), "strongroom_database_up"), 0);

    let redis = false;
    const full = createAppMetrics(
      sources({
        poolStats: () => ({ total: 4, idle: 1, waiting: 2, max: 10 }),
        redisConnected: () => redis,
      }),
    );
    text = await full.registry.metrics();
    assert.equal(sample(text, "strongroom_database_pool_connections"), 4);
    assert.equal(sample(text, "strongroom_database_pool_idle_connections"), 1);
    assert.equal(sample(text, "strongroom_database_pool_waiting_requests"), 2);
    assert.equal(sample(text, "strongroom_database_pool_max_connections"), 10);
    assert.equal(sample(text, "strongroom_redis_up"), 0);
    redis = true;
    assert.equal(sample(await full.registry.metrics(), "strongroom_redis_up"), 1);
  });

  it("includes the process metrics operators expect", async () => {
    const text = await createAppMetrics(sources()).registry.metrics();
    for (const name of [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_seconds",
      "nodejs_heap_size_used_bytes",
    ]) {
      assert.ok(text.includes(`\n${name} `), name);
    }
  });
});

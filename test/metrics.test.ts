import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { POSTGRES_POOL_MAX } from "../src/db/postgres.js";
import type { SignedIn } from "./helpers/accounts.js";
import { asSession, createTestUser, signIn } from "./helpers/accounts.js";
import type { TestApp } from "./helpers/app.js";
import { createTestApp } from "./helpers/app.js";
import { POSTGRES_SKIPPED, testDatabaseTargets } from "./helpers/databases.js";

const REDIS_URL = process.env.TEST_REDIS_URL;

/** A fresh token: 64 hex characters. */
const newToken = (): string => randomBytes(32).toString("hex");
/** A marker no metric could contain by chance; letters and digits only, valid in any slot. */
const marker = (): string => `mk${randomBytes(10).toString("hex")}`;

/** The exposition's samples: `name{labels}` → value. Throws on a line that does not parse. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(match, `not a Prometheus sample line: ${line}`);
    // prom-client writes an undefined mean as `Nan`; Number() reads that as NaN too.
    samples.set(match[1] ?? "", Number(match[2]));
  }
  return samples;
}

async function scrape(t: TestApp, token: string): Promise<Map<string, number>> {
  const response = await t.app.inject({
    url: "/metrics",
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(response.statusCode, 200, response.body);
  return parseExposition(response.body);
}

describe("/metrics when METRICS_TOKEN is unset", () => {
  it("does not exist: 404 like any unknown path", async () => {
    const t = await createTestApp();
    try {
      const response = await t.app.inject({ url: "/metrics" });
      assert.equal(response.statusCode, 404);
      assert.match(String(response.headers["content-type"]), /application\/problem\+json/);
      assert.ok(!t.app.registeredRoutes.some((route) => route.url === "/metrics"));
    } finally {
      await t.close();
    }
  });
});

describe("/metrics with METRICS_TOKEN", () => {
  const token = newToken();
  let t: TestApp;
  let owner: SignedIn;

  before(async () => {
    t = await createTestApp({
      // Three failures from one address lock the name out: the third is the lockout.
      env: { METRICS_TOKEN: token, LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: "3" },
    });
    await createTestUser(t, { username: "owner_1" });
    owner = await signIn(t, "owner_1");
    const headers = asSession(owner);
    const vault = await t.app.inject({
      method: "POST",
      url: "/api/v1/vaults",
      headers,
      payload: { slug: "ops" },
    });
    assert.equal(vault.statusCode, 201, vault.body);
    const secret = await t.app.inject({
      method: "PUT",
      url: "/api/v1/vaults/ops/secrets/DB_PASSWORD",
      headers,
      payload: { value: "correct-horse" },
    });
    assert.equal(secret.statusCode, 201, secret.body);
  });
  after(async () => {
    await t.close();
  });

  it("refuses a scrape without the token, with a wrong one, and with a wrong one of the same length", async () => {
    const wrongSameLength = newToken();
    assert.equal(wrongSameLength.length, token.length);
    for (const authorization of [
      undefined,
      "",
      `Bearer ${wrongSameLength}`,
      `Bearer ${token.slice(0, -1)}`,
      `Bearer ${token}x`,
      `Basic ${Buffer.from(`metrics:${token}`).toString("base64")}`,
      token,
    ]) {
      const response = await t.app.inject({
        url: "/metrics",
        headers: authorization === undefined ? {} : { authorization },
      });
      assert.equal(response.statusCode, 401, String(authorization));
      assert.match(String(response.headers["content-type"]), /application\/problem\+json/);
      assert.equal(JSON.parse(response.body).status, 401);
      assert.match(String(response.headers["www-authenticate"]), /^Bearer /);
      assert.ok(!response.body.includes("strongroom_"), "no metrics in a refusal");
    }
  });

  it("serves the Prometheus text format, uncached and with the security headers", async () => {
    const response = await t.app.inject({
      url: "/metrics",
      headers: { authorization: `bearer  ${token}` },
    });
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    assert.equal(response.headers["cache-control"], "no-store");
    for (const header of [
      "content-security-policy",
      "x-content-type-options",
      "x-frame-options",
      "referrer-policy",
      "permissions-policy",
    ]) {
      assert.ok(response.headers[header] !== undefined, header);
    }
    const samples = parseExposition(response.body);
    assert.equal(samples.get("strongroom_database_up"), 1);
    assert.ok(samples.has("process_cpu_seconds_total"));
    assert.ok(samples.has("nodejs_eventloop_lag_seconds"));
    // The set-up above was counted under the route pattern, by status.
    assert.ok(
      (samples.get(
        'strongroom_http_requests_total{method="POST",route="/api/v1/auth/login",status="200"}',
      ) ?? 0) >= 1,
    );
    assert.ok(
      samples.has(
        'strongroom_http_request_duration_seconds_bucket{le="+Inf",method="PUT",route="/api/v1/vaults/:vault/secrets/:name",status="201"}',
      ),
    );
    assert.ok(
      !samples.has("strongroom_database_pool_connections") || t.config.database.kind === "postgres",
    );
  });

  it("counts sign-in failures, the lockout, throttled attempts and reveals", async () => {
    const before = await scrape(t, token);
    const get = (samples: Map<string, number>, series: string): number =>
      samples.get(series) ?? Number.NaN;

    for (let attempt = 0; attempt < 4; attempt++) {
      const response = await t.app.inject({
        method: "POST",
        url: "/api/v1/auth/login",
        payload: { username: "owner_1", password: "not-the-password-at-all" },
      });
      assert.equal(response.statusCode, attempt < 3 ? 401 : 429, response.body);
    }
    const reveal = await t.app.inject({
      url: "/api/v1/vaults/ops/secrets/DB_PASSWORD",
      headers: { cookie: owner.cookie },
    });
    assert.equal(reveal.statusCode, 200);
    const version = await t.app.inject({
      url: "/api/v1/vaults/ops/secrets/DB_PASSWORD/versions/1",
      headers: { cookie: owner.cookie },
    });
    assert.equal(version.statusCode, 200);
    const page = await t.app.inject({
      method: "POST",
      url: "/vaults/ops/secrets/DB_PASSWORD/reveal",
      headers: { cookie: owner.cookie, "content-type": "application/x-www-form-urlencoded" },
      payload: `_csrf=${encodeURIComponent(owner.csrfToken)}`,
    });
    assert.equal(page.statusCode, 200, page.body);
    // A refused reveal (no such secret) is not a reveal.
    const missing = await t.app.inject({
      url: "/api/v1/vaults/ops/secrets/NO_SUCH",
      headers: { cookie: owner.cookie },
    });
    assert.equal(missing.statusCode, 404);

    const after = await scrape(t, token);
    const delta = (series: string): number => get(after, series) - get(before, series);
    assert.equal(delta('strongroom_login_failures_total{factor="password"}'), 3);
    assert.equal(delta("strongroom_login_lockouts_total"), 1);
    assert.equal(delta("strongroom_login_throttled_total"), 1);
    assert.equal(delta('strongroom_secret_reveals_total{kind="current"}'), 2);
    assert.equal(delta('strongroom_secret_reveals_total{kind="version"}'), 1);
    assert.equal(
      get(
        after,
        'strongroom_http_requests_total{method="GET",route="/api/v1/vaults/:vault/secrets/:name",status="404"}',
      ),
      1,
    );
  });

  it("never carries a client-chosen value: vault and secret names, paths, queries, methods, headers", async () => {
    const markers = Array.from({ length: 7 }, marker);
    const [vault, name, path, query, header, user, method] = markers as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const requests = [
      { url: `/api/v1/vaults/${vault}/secrets/${name}`, headers: { cookie: owner.cookie } },
      { url: `/api/v1/vaults/${vault}/secrets/${name}` },
      { url: `/vaults/${vault}/secrets/${name}`, headers: { cookie: owner.cookie } },
      { url: `/no/such/${path}?secret=${query}`, headers: { "user-agent": header } },
      { url: `/api/v1/vaults/ops?${query}=${query}`, headers: { "x-request-id": header } },
    ];
    for (const request of requests) await t.app.inject(request);
    await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { username: user, password: "not-the-password-at-all" },
    });
    await t.app.inject({ method: "PROPFIND" as "GET", url: `/${method}` });

    const response = await t.app.inject({
      url: "/metrics",
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(response.statusCode, 200);
    for (const value of markers) assert.ok(!response.body.includes(value), `leaked ${value}`);
    assert.ok(!response.body.includes("correct-horse"), "no secret value");
    assert.ok(!response.body.includes(token), "not the token itself");
    const samples = parseExposition(response.body);
    assert.ok(
      [...samples.keys()].some((series) => series.includes('route="unmatched",status="404"')),
    );
    // Every route label is a registered pattern or the fixed `unmatched`.
    const patterns = new Set([...t.app.registeredRoutes.map((r) => r.url), "unmatched"]);
    for (const series of samples.keys()) {
      const route = /route="([^"]*)"/.exec(series)?.[1];
      if (route !== undefined) assert.ok(patterns.has(route), `unknown route label ${route}`);
      const method = /method="([^"]*)"/.exec(series)?.[1];
      if (method !== undefined)
        assert.ok(/^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|OTHER)$/.test(method), method);
    }
  });

  it("never logs the token, right or wrong", async () => {
    const wrong = newToken();
    await t.app.inject({ url: "/metrics", headers: { authorization: `Bearer ${wrong}` } });
    await scrape(t, token);
    const logs = t.logs.join("\n");
    assert.ok(logs.includes("/metrics"), "the scrapes were logged");
    assert.ok(!logs.includes(token));
    assert.ok(!logs.includes(wrong));
  });
});

describe("/metrics health gauges", () => {
  it("reports the database as down while it is unreachable, and no pool or Redis on SQLite alone", async () => {
    const token = newToken();
    const t = await createTestApp({ env: { METRICS_TOKEN: token } });
    try {
      const up = await scrape(t, token);
      assert.equal(up.get("strongroom_database_up"), 1);
      assert.ok(![...up.keys()].some((series) => series.startsWith("strongroom_redis_up")));
      if (t.config.database.kind === "sqlite")
        assert.ok(![...up.keys()].some((series) => series.startsWith("strongroom_database_pool")));
      await t.database.close();
      assert.equal((await scrape(t, token)).get("strongroom_database_up"), 0);
    } finally {
      await t.close();
    }
  });

  const postgres = testDatabaseTargets().find((kind) => kind.name === "postgres");
  it("reports the PostgreSQL pool", { skip: postgres ? false : POSTGRES_SKIPPED }, async () => {
    const database = await (postgres?.create() ?? Promise.reject(new Error("no postgres")));
    const token = newToken();
    const t = await createTestApp({ env: { METRICS_TOKEN: token }, target: database.target });
    try {
      const samples = await scrape(t, token);
      assert.equal(samples.get("strongroom_database_up"), 1);
      assert.equal(samples.get("strongroom_database_pool_max_connections"), POSTGRES_POOL_MAX);
      assert.ok((samples.get("strongroom_database_pool_connections") ?? 0) >= 1);
      // The scrape's own ping may be queued for a connection at that moment: 0 or more.
      assert.ok((samples.get("strongroom_database_pool_waiting_requests") ?? -1) >= 0);
      assert.ok((samples.get("strongroom_database_pool_idle_connections") ?? -1) >= 0);
    } finally {
      await t.close();
      await database.cleanup();
    }
  });

  it("reports Redis when REDIS_URL is set", {
    skip: REDIS_URL ? false : "TEST_REDIS_URL not set: Redis metrics test skipped",
  }, async () => {
    const token = newToken();
    const t = await createTestApp({
      env: { METRICS_TOKEN: token },
      redisUrl: REDIS_URL ?? "",
    });
    try {
      // The first throttling decision waits for the connection; a sign-in makes one.
      await t.app.inject({
        method: "POST",
        url: "/api/v1/auth/login",
        payload: { username: "nobody_here", password: "not-the-password-at-all" },
      });
      assert.equal((await scrape(t, token)).get("strongroom_redis_up"), 1);
    } finally {
      await t.close();
    }
  });
});

/**
 * PostgreSQL restarting under a running server (`strongroom serve`, a real process): while
 * the database is down requests fail fast with 503 problem+json and /readyz says so, while
 * /healthz keeps saying the process is alive; once it is back the same process serves again,
 * with no restart. Runs on a private server this test starts and stops, never the shared one.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { createUser } from "../../src/accounts/registration.service.js";
import { loadConfig } from "../../src/config/config.js";
import { openDatabase } from "../../src/db/database.js";
import { POSTGRES_CONNECT_TIMEOUT_MS } from "../../src/db/postgres.js";
import { GOOD_PASSWORD } from "../helpers/accounts.js";
import { testEnv } from "../helpers/app.js";
import type { PostgresCluster } from "../helpers/postgres-cluster.js";
import { postgresClusterSkipReason, startPostgresCluster } from "../helpers/postgres-cluster.js";
import type { RunningProcess } from "../helpers/process.js";
import { startCli } from "../helpers/process.js";

interface Answer {
  status: number;
  contentType: string;
  retryAfter: string | null;
  body: string;
  /** How long the answer took, in milliseconds. */
  tookMs: number;
}

const SECRET_URL = "/api/v1/vaults/ops/secrets/DB_PASSWORD";

describe("a PostgreSQL restart under a running server", {
  skip: postgresClusterSkipReason() ?? false,
}, () => {
  let cluster: PostgresCluster;
  let server: RunningProcess;
  let cwd: string;
  let base = "";
  let session: { cookie: string; csrfToken: string } | null = null;

  /** A request as a signed-in client sends it (as a probe does, when signed out). */
  async function call(method: string, path: string, body?: unknown): Promise<Answer> {
    const started = Date.now();
    const headers: Record<string, string> = {};
    if (session !== null) {
      headers.cookie = session.cookie;
      headers["x-csrf-token"] = session.csrfToken;
    }
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${base}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      retryAfter: response.headers.get("retry-after"),
      body: await response.text(),
      tookMs: Date.now() - started,
    };
  }

  const probe = async (path: "/healthz" | "/readyz"): Promise<Answer> => {
    const signedIn = session;
    session = null;
    try {
      return await call("GET", path);
    } finally {
      session = signedIn;
    }
  };

  async function signIn(): Promise<Answer & { session: typeof session }> {
    const started = Date.now();
    const response = await fetch(`${base}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "operator", password: GOOD_PASSWORD }),
    });
    const body = await response.text();
    const cookie = response.headers
      .getSetCookie()
      .map((header) => header.split(";")[0] ?? "")
      .find((pair) => /strongroom_session=./.test(pair));
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      retryAfter: response.headers.get("retry-after"),
      body,
      tookMs: Date.now() - started,
      session:
        response.status === 200 && cookie !== undefined
          ? { cookie, csrfToken: (JSON.parse(body) as { csrfToken: string }).csrfToken }
          : null,
    };
  }

  function assertUnavailable(answer: Answer, what: string): void {
    assert.equal(answer.status, 503, `${what}: ${answer.body}`);
    assert.match(answer.contentType, /^application\/problem\+json/, what);
    assert.match((JSON.parse(answer.body) as { type: string }).type, /service-unavailable$/, what);
    assert.ok(answer.retryAfter, `${what}: Retry-After`);
    assert.ok(answer.tookMs < POSTGRES_CONNECT_TIMEOUT_MS, `${what} took ${answer.tookMs} ms`);
    for (const leak of [cluster.password, String(cluster.port), "ECONN", "postgres"])
      assert.ok(!answer.body.includes(leak), `${what} shows ${leak}`);
  }

  /** Polls /readyz until the server can serve again (the pool reconnects on demand). */
  async function untilReady(): Promise<void> {
    const deadline = Date.now() + 15_000;
    while ((await probe("/readyz")).status !== 200) {
      assert.ok(Date.now() < deadline, "ready again once PostgreSQL is back");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  before(async () => {
    cluster = await startPostgresCluster();
    cwd = mkdtempSync(join(tmpdir(), "strongroom-restart-"));
    const env = testEnv({ DATABASE_URL: cluster.url, PORT: "0", LOG_LEVEL: "info" });
    server = startCli(["serve"], env, cwd);
    [, base = ""] = await server.waitFor(/serving at (http:\/\/127\.0\.0\.1:\d+)/);
    // The account is made directly, as `strongroom users create` does.
    const { config } = loadConfig(env, cwd);
    const handle = await openDatabase(config.database);
    try {
      await createUser(
        handle.db,
        { config, now: () => new Date() },
        {
          username: "operator",
          email: "operator@example.test",
          password: GOOD_PASSWORD,
          role: "member",
        },
        { id: null, name: "test", address: null },
      );
    } finally {
      await handle.close();
    }
    session = (await signIn()).session;
    assert.ok(session, "signed in");
    assert.equal((await call("POST", "/api/v1/vaults", { slug: "ops" })).status, 201);
    assert.equal((await call("PUT", SECRET_URL, { value: "first-value" })).status, 201);
  });

  after(async () => {
    if (server !== undefined && server.child.exitCode === null) {
      server.child.kill("SIGTERM");
      await server.exited;
    }
    await cluster?.destroy();
    if (cwd !== undefined) rmSync(cwd, { recursive: true, force: true });
  });

  it("answers 503 while PostgreSQL is down, then serves again without a restart", async () => {
    assert.equal((await call("GET", SECRET_URL)).status, 200);
    await cluster.stop();

    assertUnavailable(await call("GET", SECRET_URL), "revealing a secret");
    assertUnavailable(await call("GET", "/api/v1/vaults"), "listing vaults");
    assertUnavailable(await call("PUT", SECRET_URL, { value: "lost" }), "writing a secret");
    assertUnavailable(await signIn(), "signing in");
    assertUnavailable(await probe("/readyz"), "/readyz");
    const alive = await probe("/healthz");
    assert.equal(alive.status, 200, "/healthz: the process is alive, do not restart it");
    assert.equal(server.child.exitCode, null);

    await cluster.start();
    await untilReady();
    const revealed = await call("GET", SECRET_URL);
    assert.equal(revealed.status, 200, revealed.body);
    assert.equal(JSON.parse(revealed.body).value, "first-value", "the failed write left nothing");
    const again = await signIn();
    assert.equal(again.status, 200, again.body);
    const written = await call("PUT", SECRET_URL, { value: "second-value" });
    assert.equal(written.status, 200, written.body);
    assert.equal(JSON.parse(written.body).version, 2);
  });

  it("a request in flight when PostgreSQL stops gets 503, and its transaction is gone", async () => {
    // Another session holds the secret's row, so the write below waits inside its transaction.
    const other = new pg.Client({ connectionString: cluster.url });
    other.on("error", () => {}); // it is about to lose its connection too
    await other.connect();
    try {
      await other.query("begin");
      await other.query("select id from secrets where name = 'DB_PASSWORD' for update");
      const inFlight = call("PUT", SECRET_URL, { value: "in-flight" });
      for (let waited = 0; ; waited += 10) {
        assert.ok(waited < 10_000, "the write reaches the database and waits for the row");
        // pg_stat_activity is read once per transaction unless told otherwise.
        await other.query("select pg_stat_clear_snapshot()");
        const { rows } = await other.query(
          "select 1 from pg_stat_activity where pg_backend_pid() = any(pg_blocking_pids(pid))",
        );
        if (rows.length > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // Immediate, not fast: a fast shutdown ends the sessions one by one, and when the lock
      // holder goes first, the waiting write gets the row and may commit before its own
      // session ends (CI saw it answer 200). An immediate stop releases no lock on the way.
      await cluster.stop("immediate");
      assertUnavailable(await inFlight, "the write in flight");
    } finally {
      await other.end().catch(() => {});
    }

    await cluster.start();
    await untilReady();
    const revealed = await call("GET", SECRET_URL);
    assert.equal(JSON.parse(revealed.body).value, "second-value", "the cut write did not commit");
    const written = await call("PUT", SECRET_URL, { value: "third-value" });
    assert.equal(written.status, 200, written.body);
    assert.equal(JSON.parse(written.body).version, 3);
  });

  it("logs that the database is unavailable, never the URL's password", () => {
    const lines = server
      .stdout()
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as { level: number; msg?: string });
    const messages = new Set(lines.filter((line) => line.level >= 40).map((line) => line.msg));
    assert.ok(messages.has("database connection lost"), [...messages].join(", "));
    assert.ok(messages.has("request failed: database unavailable"), [...messages].join(", "));
    const output = server.stdout() + server.stderr();
    assert.ok(!output.includes(cluster.password), "the password never reaches the log");
    assert.ok(!output.includes(cluster.url));
  });
});

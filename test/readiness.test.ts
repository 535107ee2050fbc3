import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import type { TestApp } from "./helpers/app.js";
import { createTestApp } from "./helpers/app.js";
import { POSTGRES_SKIPPED, testDatabaseTargets } from "./helpers/databases.js";
import type { TcpProxy } from "./helpers/tcp-proxy.js";
import { startTcpProxy } from "./helpers/tcp-proxy.js";

describe("readiness on SQLite", () => {
  it("/healthz and /readyz answer 200", async () => {
    const t = await createTestApp();
    try {
      assert.equal((await t.app.inject({ url: "/healthz" })).statusCode, 200);
      const ready = await t.app.inject({ url: "/readyz" });
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(JSON.parse(ready.body), { status: "ready" });
    } finally {
      await t.close();
    }
  });
});

const postgres = testDatabaseTargets().find((kind) => kind.name === "postgres");

describe("a PostgreSQL outage at run time", {
  skip: postgres === undefined ? POSTGRES_SKIPPED : false,
}, () => {
  let proxy: TcpProxy;
  let t: TestApp;
  let cleanup: () => Promise<void>;

  before(async () => {
    const database = await (postgres?.create() ?? Promise.reject(new Error("no postgres")));
    cleanup = database.cleanup;
    if (database.target.kind !== "postgres") throw new Error("expected postgres");
    const real = new URL(database.target.url);
    proxy = await startTcpProxy(real.hostname, Number(real.port || 5432));
    const viaProxy = new URL(database.target.url);
    viaProxy.hostname = "127.0.0.1";
    viaProxy.port = String(proxy.port);
    t = await createTestApp({
      target: {
        kind: "postgres",
        url: viaProxy.toString(),
        schema: database.target.schema ?? "public",
      },
      routes: (app) => {
        // Stands for any route that reads the database.
        app.get("/api/v1/test/count", async () => {
          const { rows } = await sql<{ n: number }>`select count(*)::int as n from users`.execute(
            t.database.db,
          );
          return { users: rows[0]?.n };
        });
      },
    });
  });

  after(async () => {
    await t?.close();
    await proxy?.close();
    await cleanup?.();
  });

  it("answers 503 on /readyz and on requests while the database is gone, and recovers", async () => {
    assert.equal((await t.app.inject({ url: "/readyz" })).statusCode, 200);
    assert.equal((await t.app.inject({ url: "/api/v1/test/count" })).statusCode, 200);

    await proxy.cut();
    const notReady = await t.app.inject({ url: "/readyz" });
    assert.equal(notReady.statusCode, 503);
    assert.match(String(notReady.headers["content-type"]), /^application\/problem\+json/);
    assert.match(JSON.parse(notReady.body).type, /service-unavailable$/);
    assert.ok(notReady.headers["retry-after"]);

    const failing = await t.app.inject({ url: "/api/v1/test/count" });
    assert.equal(failing.statusCode, 503, failing.body);
    for (const leak of ["ECONNREFUSED", "127.0.0.1", "postgres", "select"])
      assert.ok(!failing.body.includes(leak), leak);
    assert.equal(
      (await t.app.inject({ url: "/healthz" })).statusCode,
      200,
      "the process stays alive",
    );
    // Also for a probe that carries a session cookie or a token: no lookup runs for it.
    for (const headers of [
      { cookie: "strongroom_session=abc; __Host-strongroom_session=abc" },
      { authorization: `Bearer sr_${"a".repeat(43)}` },
    ]) {
      assert.equal((await t.app.inject({ url: "/healthz", headers })).statusCode, 200);
      assert.equal((await t.app.inject({ url: "/readyz", headers })).statusCode, 503);
    }

    await proxy.restore();
    let status = 0;
    for (let attempt = 0; attempt < 20 && status !== 200; attempt++) {
      status = (await t.app.inject({ url: "/readyz" })).statusCode;
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(status, 200, "ready again once the database returns");
    assert.equal((await t.app.inject({ url: "/api/v1/test/count" })).statusCode, 200);
  });
});

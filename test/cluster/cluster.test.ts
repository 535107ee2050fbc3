/**
 * `npm run test:cluster`: two PostgreSQL-backed instances behind Debian's nginx terminating
 * TLS, round robin, sharing one Redis — and everything a user does through the proxy behaves
 * as on one machine. Every assertion about "the other instance" checks that both instances
 * really answered (the proxy names the upstream in X-Upstream).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { openDatabase } from "../../src/db/database.js";
import { GOOD_PASSWORD } from "../helpers/accounts.js";
import type { TestDatabase } from "../helpers/databases.js";
import { createPostgresTestDatabase, databaseUrlOf } from "../helpers/databases.js";
import { runCli } from "../helpers/process.js";
import type { TestRedisServer } from "../helpers/redis-server.js";
import { findFreePort, startRedisServer } from "../helpers/redis-server.js";
import type { Instance, Nginx, Reply } from "./harness.js";
import {
  clusterSecrets,
  clusterSkipReason,
  httpsClient,
  makeCertificate,
  startInstance,
  startNginx,
} from "./harness.js";

const skip = clusterSkipReason();
/** The attempts per account and address before a lockout (LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS). */
const PER_ACCOUNT_ADDRESS = 5;

describe("two instances behind a TLS proxy", { skip: skip ?? false }, () => {
  const secrets = clusterSecrets();
  let database: TestDatabase;
  let redis: TestRedisServer;
  let nginx: Nginx;
  let ports: number[] = [];
  let instances: Instance[] = [];
  let call: ReturnType<typeof httpsClient>;
  let origin: string;
  let env: (masterKey: string) => NodeJS.ProcessEnv;

  const startAll = async (masterKey: string): Promise<void> => {
    instances = [];
    for (const port of ports)
      instances.push(await startInstance(env(masterKey), secrets.dir, port));
  };
  const stopAll = async (): Promise<void> => {
    for (const instance of instances) await instance.stop();
    instances = [];
  };

  before(async () => {
    database = await createPostgresTestDatabase();
    redis = await startRedisServer();
    const { cert, key, pem } = makeCertificate(secrets.dir);
    ports = [await findFreePort(), await findFreePort()];
    nginx = await startNginx({ dir: secrets.dir, upstreams: ports, cert, key });
    origin = `https://127.0.0.1:${nginx.port}`;
    call = httpsClient({ port: nginx.port, ca: pem });
    env = (masterKey) => ({
      NODE_ENV: "production",
      PUBLIC_URL: origin,
      TRUST_PROXY: "127.0.0.1",
      SECRET_KEY: secrets.secretKey,
      MASTER_KEY: masterKey,
      DATABASE_URL: databaseUrlOf(database.target),
      REDIS_URL: redis.url,
      LOG_LEVEL: "warn",
      LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: String(PER_ACCOUNT_ADDRESS),
    });
    for (const [username, role] of [
      ["alice_c", "admin"],
      ["bob_c", "member"],
      ["carol_c", "member"],
      ["dave_c", "member"],
      ["erin_c", "member"],
    ] as const) {
      const made = await runCli(
        [
          "users",
          "create",
          username,
          "--email",
          `${username}@example.test`,
          "--role",
          role,
          "--password-stdin",
        ],
        env(secrets.masterKey("k1")),
        secrets.dir,
        `${GOOD_PASSWORD}\n`,
      );
      assert.equal(made.code, 0, made.stderr);
    }
    await startAll(secrets.masterKey("k1"));
  });

  after(async () => {
    await stopAll();
    await nginx?.stop();
    await redis?.stop();
    await database?.cleanup();
  });

  /** Signs in through the proxy: the session cookie and the CSRF token. */
  const signIn = async (username: string, password = GOOD_PASSWORD) => {
    const reply = await call("POST", "/api/v1/auth/login", {
      body: { username, password },
      headers: { origin },
    });
    assert.equal(reply.status, 200, reply.body);
    const cookie = String(reply.headers["set-cookie"]?.[0] ?? "").split(";")[0] ?? "";
    assert.match(cookie, /^__Host-strongroom_session=/);
    return { cookie, csrf: reply.json<{ csrfToken: string }>().csrfToken };
  };
  type Session = Awaited<ReturnType<typeof signIn>>;
  const as = (session: Session) => ({
    cookie: session.cookie,
    "x-csrf-token": session.csrf,
    origin,
  });

  /** Repeats `request` until both instances have answered; returns every reply. */
  const onBoth = async (request: () => Promise<Reply>): Promise<Reply[]> => {
    const replies: Reply[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < 20 && seen.size < 2; i++) {
      const reply = await request();
      replies.push(reply);
      seen.add(reply.upstream);
    }
    assert.equal(seen.size, 2, `both instances answered: ${[...seen].join(", ")}`);
    return replies;
  };

  it("serves over TLS through the proxy, with HSTS and a Secure host-only cookie", async () => {
    const replies = await onBoth(() => call("GET", "/readyz"));
    for (const reply of replies) {
      assert.equal(reply.status, 200);
      assert.match(String(reply.headers["strict-transport-security"]), /max-age=\d+/);
    }
    const login = await call("POST", "/api/v1/auth/login", {
      body: { username: "alice_c", password: GOOD_PASSWORD },
      headers: { origin },
    });
    const cookie = String(login.headers["set-cookie"]?.[0]);
    assert.match(cookie, /^__Host-strongroom_session=.*; Secure/i);
    assert.match(cookie, /HttpOnly/i);
  });

  it("a session made on one instance works on the other", async () => {
    const session = await signIn("bob_c");
    for (const reply of await onBoth(() => call("GET", "/api/v1/me", { headers: as(session) }))) {
      assert.equal(reply.status, 200, reply.body);
      assert.equal(reply.json<{ user: { username: string } }>().user.username, "bob_c");
    }
  });

  it("a logout on one instance is refused on the other at once", async () => {
    const session = await signIn("bob_c");
    const out = await call("POST", "/api/v1/auth/logout", { headers: as(session) });
    assert.equal(out.status, 204, out.body);
    for (const reply of await onBoth(() => call("GET", "/api/v1/me", { headers: as(session) }))) {
      assert.equal(reply.status, 401, `${reply.upstream}: ${reply.body}`);
    }
  });

  it("revoking a session on one instance is refused on the other at once", async () => {
    const keep = await signIn("bob_c");
    const doomed = await signIn("bob_c");
    const listed = await call("GET", "/api/v1/me/sessions", { headers: as(keep) });
    const sessions = listed.json<{ sessions: Array<{ id: string; current: boolean }> }>().sessions;
    const others = sessions.filter((entry) => !entry.current);
    for (const entry of others) {
      const revoked = await call("DELETE", `/api/v1/me/sessions/${entry.id}`, {
        headers: as(keep),
      });
      assert.equal(revoked.status, 204, revoked.body);
    }
    for (const reply of await onBoth(() => call("GET", "/api/v1/me", { headers: as(doomed) }))) {
      assert.equal(reply.status, 401, `${reply.upstream}: ${reply.body}`);
    }
  });

  it("a password change on one instance ends the user's sessions everywhere", async () => {
    const first = await signIn("carol_c");
    const second = await signIn("carol_c");
    const newPassword = `${GOOD_PASSWORD}-renewed`;
    const changed = await call("POST", "/api/v1/me/password", {
      headers: as(first),
      body: { currentPassword: GOOD_PASSWORD, newPassword },
    });
    assert.equal(changed.status, 204, changed.body);
    for (const reply of await onBoth(() => call("GET", "/api/v1/me", { headers: as(second) }))) {
      assert.equal(reply.status, 401, `${reply.upstream}: ${reply.body}`);
    }
    await signIn("carol_c", newPassword);
  });

  it("failed sign-ins add up across instances to one lockout", async () => {
    const upstreams = new Set<string>();
    for (let i = 0; i < PER_ACCOUNT_ADDRESS; i++) {
      const failed = await call("POST", "/api/v1/auth/login", {
        body: { username: "dave_c", password: "not the password at all" },
        headers: { origin },
        localAddress: "127.0.0.3",
      });
      assert.equal(failed.status, 401, failed.body);
      upstreams.add(failed.upstream);
    }
    assert.equal(upstreams.size, 2, "the failures were spread over both instances");
    // One instance alone has seen at most 3 of the 5: only the shared count locks.
    for (const reply of await onBoth(() =>
      call("POST", "/api/v1/auth/login", {
        body: { username: "dave_c", password: GOOD_PASSWORD },
        headers: { origin },
        localAddress: "127.0.0.3",
      }),
    )) {
      assert.equal(reply.status, 429, `${reply.upstream}: ${reply.body}`);
    }
  });

  it("concurrent writes to one secret through both instances keep every version, numbered once", async () => {
    const alice = await signIn("alice_c");
    const created = await call("POST", "/api/v1/vaults", {
      headers: as(alice),
      body: { slug: "cluster" },
    });
    assert.equal(created.status, 201, created.body);
    const writes = 30;
    const replies = await Promise.all(
      Array.from({ length: writes }, (_, i) =>
        call("PUT", "/api/v1/vaults/cluster/secrets/RACE", {
          headers: as(alice),
          body: { value: `value-${i}` },
        }),
      ),
    );
    assert.equal(new Set(replies.map((reply) => reply.upstream)).size, 2, "both instances wrote");
    for (const reply of replies) assert.ok([200, 201].includes(reply.status), reply.body);
    const numbers = replies
      .map((reply) => reply.json<{ version: number }>().version)
      .sort((a, b) => a - b);
    assert.deepEqual(
      numbers,
      Array.from({ length: writes }, (_, i) => i + 1),
    );
    const versions = await call("GET", "/api/v1/vaults/cluster/secrets/RACE/versions", {
      headers: as(alice),
    });
    const listed = versions.json<{ versions: Array<{ version: number }> }>().versions;
    assert.equal(
      new Set(listed.map((entry) => entry.version)).size,
      listed.length,
      "no duplicates",
    );
    assert.equal(Math.max(...listed.map((entry) => entry.version)), writes);
  });

  it("client addresses and https come from the proxy only when the request really comes from it", async () => {
    // Through the proxy, from 127.0.0.2, claiming to be someone else: nginx overwrites the claim.
    await call("POST", "/api/v1/auth/login", {
      body: { username: "erin_c", password: "wrong password here" },
      headers: { origin, "x-forwarded-for": "203.0.113.7" },
      localAddress: "127.0.0.2",
    });
    // Straight to an instance over plain HTTP from 127.0.0.2 (not the trusted proxy),
    // claiming an address and https: both claims are ignored.
    const direct = await fetchFrom127002(ports[0] ?? 0, {
      "x-forwarded-for": "198.51.100.9",
      "x-forwarded-proto": "https",
    });
    assert.equal(direct.hsts, undefined, "no HSTS on a request that did not arrive over https");
    const handle = await openDatabase(database.target);
    try {
      const rows = await handle.db
        .selectFrom("audit_events")
        .select("address")
        .where("action", "=", "login.failure")
        .where("target", "=", "erin_c")
        .execute();
      assert.deepEqual(
        rows.map((row) => row.address),
        ["127.0.0.2", "127.0.0.2"],
      );
    } finally {
      await handle.close();
    }
  });

  it("key rotation while both instances serve loses nothing", async () => {
    const alice = await signIn("alice_c");
    const values = new Map<string, string>();
    for (let i = 0; i < 40; i++) {
      const name = `ROT_${i}`;
      const value = `rotated-${i}-${"x".repeat(i)}`;
      const put = await call("PUT", `/api/v1/vaults/cluster/secrets/${name}`, {
        headers: as(alice),
        body: { value },
      });
      assert.equal(put.status, 201, put.body);
      values.set(name, value);
    }
    // Step 2 of the procedure: every instance gets the new key first, the old one after it.
    const both = `${secrets.masterKey("k2")},${secrets.masterKey("k1")}`;
    await stopAll();
    await startAll(both);
    const session = await signIn("alice_c");
    // Step 3 while traffic flows: reads of the rotating secrets and new writes, on both.
    let stop = false;
    let writes = 0;
    const traffic = (async () => {
      const failures: string[] = [];
      while (!stop) {
        const name = `ROT_${writes % 40}`;
        const read = await call("GET", `/api/v1/vaults/cluster/secrets/${name}`, {
          headers: as(session),
        });
        if (read.status !== 200 || read.json<{ value: string }>().value !== values.get(name)) {
          failures.push(`read ${name}: ${read.status} ${read.body}`);
        }
        const value = `during-rotation-${writes}`;
        const put = await call("PUT", "/api/v1/vaults/cluster/secrets/LIVE", {
          headers: as(session),
          body: { value },
        });
        if (put.status !== 200 && put.status !== 201)
          failures.push(`write: ${put.status} ${put.body}`);
        else values.set("LIVE", value);
        writes += 1;
      }
      return failures;
    })();
    const rotated = await runCli(["keys", "rotate", "--batch-size", "7"], env(both), secrets.dir);
    stop = true;
    assert.deepEqual(await traffic, []);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /every item is under "k2"/);
    assert.ok(writes > 0, "traffic ran during the rotation");
    // Step 4: the old key is gone; everything still reads, on both instances.
    await stopAll();
    await startAll(secrets.masterKey("k2"));
    const after = await signIn("alice_c");
    const upstreams = new Set<string>();
    for (const [name, value] of values) {
      const read = await call("GET", `/api/v1/vaults/cluster/secrets/${name}`, {
        headers: as(after),
      });
      assert.equal(read.status, 200, `${name}: ${read.body}`);
      assert.equal(read.json<{ value: string }>().value, value, name);
      upstreams.add(read.upstream);
    }
    assert.equal(upstreams.size, 2);
  });

  it("the audit chain both instances wrote verifies", async () => {
    const verified = await runCli(["audit", "verify"], env(secrets.masterKey("k2")), secrets.dir);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    assert.match(verified.stdout, /^audit chain intact: \d+ events$/m);
    const count = Number(/intact: (\d+)/.exec(verified.stdout)?.[1]);
    assert.ok(count > 100, `${count} events`);
  });
});

/** A failed login straight to an instance (plain HTTP) from 127.0.0.2 with `headers`. */
async function fetchFrom127002(
  port: number,
  headers: Record<string, string>,
): Promise<{ status: number; hsts: string | undefined }> {
  const { request } = await import("node:http");
  const body = JSON.stringify({ username: "erin_c", password: "wrong password here" });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/api/v1/auth/login",
        localAddress: "127.0.0.2",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          ...headers,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            hsts: res.headers["strict-transport-security"] as string | undefined,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

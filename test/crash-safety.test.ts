/**
 * Crash safety (issue 9): a real `strongroom serve` process is killed with SIGKILL at random
 * moments while several clients write secrets through the HTTP API, and restarted on the same
 * database each time. Afterwards:
 *
 * (a) every write the server acknowledged (a 2xx answer reached the client) is there, at the
 *     version the answer named, and decrypts to the value written;
 * (b) nothing unacknowledged is half there: every secret and version that exists decrypts and
 *     holds one of the values a client sent, each at most once, with no gaps in the numbering;
 * (c) `strongroom audit verify` finds the chain intact;
 * (d) the database is consistent: SQLite's integrity and foreign-key checks pass, and on
 *     either engine no version lacks its secret and every secret's current version exists.
 *
 * Nothing here is timed: the kill moments are random, and every wait is for an event.
 */
import assert from "node:assert/strict";
import { randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import Database from "better-sqlite3";
import pg from "pg";
import type { DatabaseTarget } from "../src/db/url.js";
import { type Instance, startInstance } from "./cluster/harness.js";
import { GOOD_PASSWORD } from "./helpers/accounts.js";
import { databaseUrlOf, testDatabaseTargets } from "./helpers/databases.js";
import { runCli } from "./helpers/process.js";
import { findFreePort } from "./helpers/redis-server.js";

const PUBLIC_URL = "https://127.0.0.1";
const VAULT = "crash";
/** Kills, each after a random 0.3–1.5 s of writing. */
const ROUNDS = 5;
/** Writers 0 and 1 each write new names; 2 and 3 both rewrite the same few names. */
const WRITERS = 4;
const SHARED_NAMES = ["SHARED_A", "SHARED_B", "SHARED_C"];
/** Versions kept per secret (SECRET_VERSIONS_KEPT): older acknowledged ones are shredded. */
const VERSIONS_KEPT = 20;

/** One PUT as the client saw it. */
interface Attempt {
  name: string;
  value: string;
  /** acked: a 2xx answer; failed: another answer; lost: no answer (connection error). */
  outcome: "pending" | "acked" | "failed" | "lost";
  status?: number;
  version?: number;
}

describe("crash safety: SIGKILL while writing", () => {
  for (const kind of testDatabaseTargets()) {
    it(kind.name, { timeout: 180_000 }, async () => {
      const database = await kind.create();
      const cwd = mkdtempSync(join(tmpdir(), "strongroom-crash-"));
      const port = await findFreePort();
      const base = `http://127.0.0.1:${port}`;
      const env: NodeJS.ProcessEnv = {
        NODE_ENV: "production",
        PUBLIC_URL,
        SECRET_KEY: randomBytes(32).toString("base64url"),
        MASTER_KEY: `k1:${randomBytes(32).toString("base64")}`,
        DATABASE_URL: databaseUrlOf(database.target),
        LOG_LEVEL: "warn",
        // The writers go as fast as they can: the per-caller budget must not be what stops them.
        API_RATE_LIMIT: "1000000",
      };
      let instance: Instance | null = null;
      try {
        const made = await runCli(
          ["users", "create", "crash_owner", "--email", "crash@example.test", "--password-stdin"],
          env,
          cwd,
          `${GOOD_PASSWORD}\n`,
        );
        assert.equal(made.code, 0, made.stderr);
        instance = await startInstance(env, cwd, port);
        const token = await setUp(base);
        const auth = { authorization: `Bearer ${token}` };

        // The writers run until told to stop, through every kill and restart.
        const attempts: Attempt[] = [];
        let stopping = false;
        const writer = async (w: number): Promise<void> => {
          for (let seq = 0; !stopping; seq++) {
            const name =
              w < 2 ? `W${w}_${seq}` : (SHARED_NAMES[randomInt(SHARED_NAMES.length)] ?? "");
            const attempt: Attempt = {
              name,
              value: `w${w}-${seq}-${randomBytes(6).toString("hex")}`,
              outcome: "pending",
            };
            attempts.push(attempt);
            try {
              const response = await fetch(`${base}/api/v1/vaults/${VAULT}/secrets/${name}`, {
                method: "PUT",
                headers: { ...auth, "content-type": "application/json" },
                body: JSON.stringify({ value: attempt.value }),
              });
              const text = await response.text();
              attempt.status = response.status;
              if (response.ok) {
                attempt.outcome = "acked";
                attempt.version = (JSON.parse(text) as { version: number }).version;
              } else {
                attempt.outcome = "failed";
              }
            } catch {
              // No answer (refused, reset mid-request, or cut off mid-body): it may or may
              // not have been committed.
              attempt.outcome = "lost";
              await sleep(20);
            }
          }
        };
        const writers = Array.from({ length: WRITERS }, (_, w) => writer(w));

        for (let round = 1; round <= ROUNDS; round++) {
          await sleep(randomInt(300, 1500));
          const running: Instance = instance;
          running.process.child.kill("SIGKILL");
          if (round === ROUNDS) stopping = true;
          assert.equal(await running.process.exited, "SIGKILL");
          if (round === ROUNDS) await Promise.all(writers);
          instance = await startInstance(env, cwd, port);
        }

        const acked = attempts.filter((a) => a.outcome === "acked");
        const lost = attempts.filter((a) => a.outcome === "lost");
        const failed = attempts.filter((a) => a.outcome === "failed");
        assert.ok(acked.length > 0, "some writes were acknowledged");
        assert.deepEqual(
          failed.map((a) => `${a.name}: ${a.status}`),
          [],
          "every answer the server gave was a success",
        );

        // What the client sent and what the server acknowledged, per name.
        const sent = new Map<string, Set<string>>();
        const ackedVersions = new Map<string, Map<number, string>>();
        for (const attempt of attempts) {
          const values = sent.get(attempt.name) ?? new Set<string>();
          values.add(attempt.value);
          sent.set(attempt.name, values);
          if (attempt.outcome === "acked" && attempt.version !== undefined) {
            const versions = ackedVersions.get(attempt.name) ?? new Map<number, string>();
            assert.ok(!versions.has(attempt.version), `${attempt.name} v${attempt.version} once`);
            versions.set(attempt.version, attempt.value);
            ackedVersions.set(attempt.name, versions);
          }
        }

        const get = async (path: string): Promise<{ status: number; body: string }> => {
          const response = await fetch(`${base}/api/v1/vaults/${VAULT}${path}`, {
            headers: auth,
          });
          return { status: response.status, body: await response.text() };
        };

        // Every secret the vault holds.
        const listed = new Map<string, number>();
        let cursor: string | null = null;
        do {
          const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
          const page = await get(`/secrets?limit=200${query}`);
          assert.equal(page.status, 200, page.body);
          const body = JSON.parse(page.body) as {
            secrets: Array<{ name: string; version: number }>;
            nextCursor: string | null;
          };
          for (const secret of body.secrets) listed.set(secret.name, secret.version);
          cursor = body.nextCursor;
        } while (cursor !== null);

        // (a) every acknowledged write is there.
        for (const name of ackedVersions.keys()) {
          assert.ok(listed.has(name), `acknowledged secret ${name} exists`);
        }

        // (a) and (b), secret by secret, in a few parallel lanes.
        const names = [...listed.keys()];
        /** Every value found in the vault, to tell which unanswered writes were committed. */
        const present = new Set<string>();
        const check = async (name: string): Promise<void> => {
          const values = sent.get(name);
          assert.ok(values !== undefined, `${name} exists only if a client wrote it`);
          const current = listed.get(name) ?? 0;
          const versionsReply = await get(`/secrets/${name}/versions`);
          assert.equal(versionsReply.status, 200, versionsReply.body);
          const versions = (
            JSON.parse(versionsReply.body) as { versions: Array<{ version: number }> }
          ).versions
            .map((v) => v.version)
            .sort((x, y) => x - y);
          const oldest = Math.max(1, current - VERSIONS_KEPT + 1);
          assert.deepEqual(
            versions,
            Array.from({ length: current - oldest + 1 }, (_, i) => oldest + i),
            `${name}: versions ${oldest}..${current}, no gaps`,
          );
          const acknowledged = ackedVersions.get(name) ?? new Map<number, string>();
          for (const n of acknowledged.keys()) {
            assert.ok(n <= current, `${name}: acknowledged v${n} ≤ current v${current}`);
          }
          const seen = new Set<string>();
          for (const n of versions) {
            const reply = await get(`/secrets/${name}/versions/${n}`);
            assert.equal(reply.status, 200, `${name} v${n} decrypts: ${reply.body}`);
            const { value } = JSON.parse(reply.body) as { value: string };
            assert.ok(values.has(value), `${name} v${n} holds a value a client sent`);
            assert.ok(!seen.has(value), `${name} v${n}: each write at most once`);
            seen.add(value);
            present.add(value);
            const expected = acknowledged.get(n);
            if (expected !== undefined) assert.equal(value, expected, `${name} v${n}`);
          }
          const latest = await get(`/secrets/${name}`);
          assert.equal(latest.status, 200, `${name} decrypts: ${latest.body}`);
          const revealed = JSON.parse(latest.body) as { value: string; version: number };
          assert.equal(revealed.version, current);
          assert.ok(values.has(revealed.value));
        };
        const lanes = Array.from({ length: 8 }, async (_, lane) => {
          for (let i = lane; i < names.length; i += 8) await check(names[i] ?? "");
        });
        await Promise.all(lanes);

        await instance.stop();
        instance = null;

        // (c) the audit chain is intact.
        const verified = await runCli(["audit", "verify"], env, cwd);
        assert.equal(verified.code, 0, `${verified.stdout}${verified.stderr}`);
        assert.match(verified.stdout, /^audit chain intact: \d+ events\n$/);

        // (d) the database is consistent.
        await assertConsistent(database.target);

        // Say what the run covered: unanswered writes found committed show kills that landed
        // between a commit and its answer.
        const lostCommitted = lost.filter((a) => present.has(a.value)).length;
        console.log(
          `${kind.name}: ${attempts.length} writes, ${acked.length} acknowledged, ` +
            `${lost.length} without an answer (${lostCommitted} of them committed); ` +
            `${names.length} secrets checked`,
        );
      } finally {
        if (instance !== null) {
          instance.process.child.kill("SIGKILL");
          await instance.process.exited;
        }
        await database.cleanup();
        rmSync(cwd, { recursive: true, force: true });
      }
    });
  }
});

/** Signs in, makes the vault and a write token for it; returns the token. */
async function setUp(base: string): Promise<string> {
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { origin: PUBLIC_URL, "content-type": "application/json" },
    body: JSON.stringify({ username: "crash_owner", password: GOOD_PASSWORD }),
  });
  const loginBody = await login.text();
  assert.equal(login.status, 200, loginBody);
  const cookie = (login.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
  const session = {
    cookie,
    "x-csrf-token": (JSON.parse(loginBody) as { csrfToken: string }).csrfToken,
    origin: PUBLIC_URL,
    "content-type": "application/json",
  };
  const vault = await fetch(`${base}/api/v1/vaults`, {
    method: "POST",
    headers: session,
    body: JSON.stringify({ slug: VAULT }),
  });
  assert.equal(vault.status, 201, await vault.text());
  const minted = await fetch(`${base}/api/v1/me/tokens`, {
    method: "POST",
    headers: session,
    body: JSON.stringify({
      name: "crash writer",
      scopes: [{ vault: VAULT, permission: "write" }],
      expiresInDays: 1,
    }),
  });
  const mintedBody = await minted.text();
  assert.equal(minted.status, 201, mintedBody);
  return (JSON.parse(mintedBody) as { token: string }).token;
}

/** Every secret's current version exists, and no version lacks its secret. */
const CONSISTENCY_QUERIES = {
  orphanVersions:
    "select count(*) as n from secret_versions v where not exists " +
    "(select 1 from secrets s where s.id = v.secret_id)",
  missingCurrent:
    "select count(*) as n from secrets s where not exists " +
    "(select 1 from secret_versions v where v.secret_id = s.id and v.version = s.current_version)",
  versionsAboveCurrent:
    "select count(*) as n from secret_versions v join secrets s on s.id = v.secret_id " +
    "where v.version > s.current_version",
};

async function assertConsistent(target: DatabaseTarget): Promise<void> {
  if (target.kind === "sqlite") {
    const sqlite = new Database(target.path, { fileMustExist: true });
    try {
      assert.equal(sqlite.pragma("integrity_check", { simple: true }), "ok");
      assert.deepEqual(sqlite.pragma("foreign_key_check"), []);
      for (const [check, sql] of Object.entries(CONSISTENCY_QUERIES)) {
        assert.equal((sqlite.prepare(sql).get() as { n: number }).n, 0, check);
      }
    } finally {
      sqlite.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  try {
    // The schema name is generated from hex digits by the test helper.
    await client.query(`set search_path to ${target.schema ?? "public"}`);
    for (const table of ["users", "vaults", "secrets", "secret_versions", "audit_events"]) {
      await client.query(`select * from ${table}`);
    }
    for (const [check, sql] of Object.entries(CONSISTENCY_QUERIES)) {
      const result = await client.query<{ n: string }>(sql);
      assert.equal(Number(result.rows[0]?.n), 0, check);
    }
  } finally {
    await client.end();
  }
}

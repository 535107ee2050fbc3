import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { createTestUser, GOOD_PASSWORD, sessionCookieFrom, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
before(async () => {
  t = await createTestApp();
  await createTestUser(t, { username: "alice", email: "alice@example.test" });
  await createTestUser(t, { username: "mallory_d", email: "mallory@example.test" });
  await t.database.db
    .updateTable("users")
    .set({ disabled_at: new Date().toISOString() })
    .where("username_key", "=", "mallory_d")
    .execute();
});
after(async () => {
  await t.close();
});

const login = (payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
  t.app.inject({ method: "POST", url: "/api/v1/auth/login", payload, headers });
const withoutRequestId = (body: string): Record<string, unknown> => {
  const { requestId: _ignored, ...rest } = JSON.parse(body) as Record<string, unknown>;
  return rest;
};

describe("login", () => {
  it("signs in by username or e-mail and sets a hardened session cookie", async () => {
    for (const username of ["alice", "ALICE", "alice@example.test", "Alice@Example.TEST"]) {
      const response = await login({ username, password: GOOD_PASSWORD });
      assert.equal(response.statusCode, 200, username);
      const body = JSON.parse(response.body);
      assert.equal(body.user.username, "alice");
      assert.match(body.csrfToken, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(body.user.passwordHash, undefined);
      const setCookie = String(response.headers["set-cookie"]);
      assert.match(setCookie, /^strongroom_session=[A-Za-z0-9_-]{43};/);
      assert.match(setCookie, /HttpOnly/);
      assert.match(setCookie, /SameSite=Strict/);
      assert.match(setCookie, /Path=\//);
      assert.doesNotMatch(setCookie, /Domain=/i);
    }
  });

  it("uses __Host- and Secure when PUBLIC_URL is https", async () => {
    const secure = await createTestApp({ env: { PUBLIC_URL: "https://vault.example.test" } });
    try {
      await createTestUser(secure, { username: "bob_secure" });
      const response = await secure.app.inject({
        method: "POST",
        url: "/api/v1/auth/login",
        payload: { username: "bob_secure", password: GOOD_PASSWORD },
      });
      assert.equal(response.statusCode, 200);
      const setCookie = String(response.headers["set-cookie"]);
      assert.match(setCookie, /^__Host-strongroom_session=/);
      assert.match(setCookie, /Secure/);
    } finally {
      await secure.close();
    }
  });

  it("answers unknown user, wrong password and disabled account identically, after the same work", async () => {
    const cases = {
      unknown: { username: "nobody_here", password: GOOD_PASSWORD },
      wrong: { username: "alice", password: "not-the-password-at-all-123" },
      disabled: { username: "mallory_d", password: GOOD_PASSWORD },
    };
    const bodies: Record<string, unknown>[] = [];
    const times: Record<string, number[]> = { unknown: [], wrong: [], disabled: [] };
    for (let round = 0; round < 3; round++) {
      for (const [name, payload] of Object.entries(cases)) {
        const started = process.hrtime.bigint();
        const response = await login(payload, { "x-forwarded-for": `10.0.0.${round}` });
        times[name]?.push(Number(process.hrtime.bigint() - started) / 1e6);
        assert.equal(response.statusCode, 401, name);
        bodies.push(withoutRequestId(response.body));
      }
    }
    for (const body of bodies) assert.deepEqual(body, bodies[0]);
    // Not a benchmark: only that a missing user is not answered without an Argon2 verification
    // (that would be ~50× faster). The median unknown-user time must be in the same league.
    const median = (values: number[]): number =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
    assert.ok(median(times.unknown ?? []) > median(times.wrong ?? []) * 0.3, JSON.stringify(times));
  });

  it("locks out after repeated failures, and then refuses even the right password without saying so", async () => {
    await createTestUser(t, { username: "victim_v" });
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++)
      statuses.push(
        (await login({ username: "victim_v", password: `wrong-password-attempt-${i}` })).statusCode,
      );
    assert.ok(
      statuses.slice(0, 5).every((s) => s === 401),
      statuses.join(),
    );
    assert.ok(
      statuses.slice(5).every((s) => s === 429),
      statuses.join(),
    );
    const right = await login({ username: "victim_v", password: GOOD_PASSWORD });
    const wrong = await login({ username: "victim_v", password: "still-wrong-password-99" });
    assert.equal(right.statusCode, 429);
    assert.deepEqual(withoutRequestId(right.body), withoutRequestId(wrong.body));
    assert.ok(Number(right.headers["retry-after"]) >= 1);
    assert.equal(sessionCookieFrom(right), null);
    const events = await t.database.db
      .selectFrom("audit_events")
      .select("action")
      .where("target", "=", "victim_v")
      .execute();
    assert.ok(events.some((e) => e.action === "login.failure"));
    assert.ok(events.some((e) => e.action === "login.throttled"));
  });

  it("tracks failures and the last login in GET /me", async () => {
    await createTestUser(t, { username: "tracked_t" });
    await login({ username: "tracked_t", password: "wrong-password-number-1" });
    await login({ username: "tracked_t", password: "wrong-password-number-2" });
    const session = await signIn(t, "tracked_t");
    const me = JSON.parse(
      (await t.app.inject({ url: "/api/v1/me", headers: { cookie: session.cookie } })).body,
    );
    assert.equal(me.user.failedLoginsBeforeLastLogin, 2);
    assert.equal(me.user.failedLoginsSinceLastLogin, 0);
    assert.equal(me.user.lastLoginAddress, "127.0.0.1");
    assert.ok(me.user.lastLoginAt);
    assert.equal(me.csrfToken, session.csrfToken);
  });

  it("upgrades legacy bcrypt and Werkzeug hashes to Argon2id on sign-in", async () => {
    const fixtures = JSON.parse(
      readFileSync(new URL("../fixtures/legacy-password-hashes.json", import.meta.url), "utf8"),
    ) as Array<{ format: string; password: string; hash: string }>;
    const picks = ["bcrypt", "werkzeug-pbkdf2", "werkzeug-scrypt"].map((prefix) =>
      fixtures.find(
        (f) =>
          f.format.startsWith(prefix) ||
          f.hash.startsWith(prefix === "bcrypt" ? "$2b$" : prefix.replace("werkzeug-", "")),
      ),
    );
    let n = 0;
    for (const fixture of picks) {
      assert.ok(fixture, "fixture present");
      const username = `legacy_${n++}`;
      const user = await createTestUser(t, { username });
      await t.database.db
        .updateTable("users")
        .set({ password_hash: fixture.hash })
        .where("id", "=", user.id)
        .execute();
      const response = await login({ username, password: fixture.password });
      assert.equal(response.statusCode, 200, `${fixture.format}: ${response.body}`);
      const row = await t.database.db
        .selectFrom("users")
        .select("password_hash")
        .where("id", "=", user.id)
        .executeTakeFirstOrThrow();
      assert.match(row.password_hash, /^\$argon2id\$/);
      assert.equal(
        (await login({ username, password: fixture.password })).statusCode,
        200,
        "still signs in after the upgrade",
      );
    }
  });

  it("rehashes when the Argon2 parameters are raised", async () => {
    const stronger = await createTestApp({ env: { ARGON2_ITERATIONS: "3" } });
    try {
      const user = await createTestUser(stronger, { username: "rehash_me" });
      await stronger.database.db
        .updateTable("users")
        .set({
          password_hash: (
            await t.database.db
              .selectFrom("users")
              .select("password_hash")
              .where("username_key", "=", "alice")
              .executeTakeFirstOrThrow()
          ).password_hash,
        })
        .where("id", "=", user.id)
        .execute();
      const response = await stronger.app.inject({
        method: "POST",
        url: "/api/v1/auth/login",
        payload: { username: "rehash_me", password: GOOD_PASSWORD },
      });
      assert.equal(response.statusCode, 200);
      const row = await stronger.database.db
        .selectFrom("users")
        .select("password_hash")
        .where("id", "=", user.id)
        .executeTakeFirstOrThrow();
      assert.match(row.password_hash, /t=3/);
    } finally {
      await stronger.close();
    }
  });

  it("refuses malformed login bodies with 400", async () => {
    for (const payload of [
      {},
      { username: "alice" },
      { username: "alice", password: GOOD_PASSWORD, role: "admin" },
      { username: 5, password: GOOD_PASSWORD },
    ]) {
      assert.equal(
        (await login(payload as Record<string, unknown>)).statusCode,
        400,
        JSON.stringify(payload),
      );
    }
  });

  it("starts no session and records no sign-in when its audit event cannot be committed", async () => {
    const db = t.database.db;
    const alice = await db
      .selectFrom("users")
      .select(["id", "last_login_at"])
      .where("username_key", "=", "alice")
      .executeTakeFirstOrThrow();
    const sessions = async () =>
      (await db.selectFrom("sessions").select("id").where("user_id", "=", alice.id).execute())
        .length;
    const before = await sessions();
    await sql`alter table audit_events rename to audit_events_away`.execute(db);
    let response: Awaited<ReturnType<typeof login>>;
    try {
      response = await login({ username: "alice", password: GOOD_PASSWORD });
    } finally {
      await sql`alter table audit_events_away rename to audit_events`.execute(db);
    }
    assert.ok(response.statusCode >= 500, `${response.statusCode}`);
    assert.equal(sessionCookieFrom(response), null);
    assert.equal(await sessions(), before);
    const after = await db
      .selectFrom("users")
      .select("last_login_at")
      .where("id", "=", alice.id)
      .executeTakeFirstOrThrow();
    assert.equal(after.last_login_at, alice.last_login_at);
    assert.equal((await login({ username: "alice", password: GOOD_PASSWORD })).statusCode, 200);
  });
});

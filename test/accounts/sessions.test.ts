import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  asSession,
  createTestUser,
  GOOD_PASSWORD,
  sessionCookieFrom,
  signIn,
} from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
before(async () => {
  t = await createTestApp();
});
after(async () => {
  await t.close();
});

const me = (cookie: string) => t.app.inject({ url: "/api/v1/me", headers: { cookie } });
const emailOf = async (username: string): Promise<string> =>
  (
    await t.database.db
      .selectFrom("users")
      .select("email")
      .where("username_key", "=", username)
      .executeTakeFirstOrThrow()
  ).email;

describe("sessions", () => {
  it("a forged cookie authenticates nobody", async () => {
    for (const value of ["forged", "A".repeat(43), "", "x".repeat(5000)]) {
      const response = await me(`strongroom_session=${value}`);
      assert.equal(response.statusCode, 401, value.slice(0, 10));
    }
  });

  it("a cookie planted before sign-in is never adopted (no fixation)", async () => {
    await createTestUser(t, { username: "fixated" });
    const planted = "attacker-chosen-session-value-aaaaaaaaaaaaaa";
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { username: "fixated", password: GOOD_PASSWORD },
      headers: { cookie: `strongroom_session=${planted}` },
    });
    assert.equal(response.statusCode, 200);
    const issued = sessionCookieFrom(response);
    assert.ok(issued && !issued.includes(planted));
    assert.equal((await me(`strongroom_session=${planted}`)).statusCode, 401);
    assert.equal((await me(issued)).statusCode, 200);
  });

  it("stores only the hash of the token", async () => {
    await createTestUser(t, { username: "hashed_s" });
    const session = await signIn(t, "hashed_s");
    const token = session.cookie.split("=")[1] ?? "";
    const rows = await t.database.db.selectFrom("sessions").select("id").execute();
    assert.ok(rows.every((row) => row.id !== token && /^[0-9a-f]{64}$/.test(row.id)));
  });

  it("ends at the idle timeout, and is kept alive by use", async () => {
    await createTestUser(t, { username: "idle_user" });
    const session = await signIn(t, "idle_user");
    t.clock.advance(20 * 60_000);
    assert.equal((await me(session.cookie)).statusCode, 200, "used at 20 minutes");
    t.clock.advance(20 * 60_000);
    assert.equal((await me(session.cookie)).statusCode, 200, "40 minutes in, 20 idle");
    t.clock.advance(31 * 60_000);
    assert.equal((await me(session.cookie)).statusCode, 401, "31 minutes idle");
  });

  it("ends at the absolute timeout even when used", async () => {
    await createTestUser(t, { username: "abs_user" });
    const session = await signIn(t, "abs_user");
    for (let i = 0; i < 24; i++) {
      t.clock.advance(29 * 60_000);
      const status = (await me(session.cookie)).statusCode;
      if (i < 24 && (i + 1) * 29 < 12 * 60)
        assert.equal(status, 200, `after ${(i + 1) * 29} minutes`);
    }
    t.clock.advance(29 * 60_000);
    assert.equal((await me(session.cookie)).statusCode, 401, "past 12 hours");
  });

  it("lists sessions, revokes one, revokes all others", async () => {
    await createTestUser(t, { username: "multi_dev" });
    const a = await signIn(t, "multi_dev");
    const b = await signIn(t, "multi_dev");
    const c = await signIn(t, "multi_dev");
    const list = JSON.parse(
      (await t.app.inject({ url: "/api/v1/me/sessions", headers: { cookie: a.cookie } })).body,
    );
    assert.equal(list.sessions.length, 3);
    assert.equal(list.sessions.filter((s: { current: boolean }) => s.current).length, 1);
    const bId = list.sessions.find((s: { id: string; current: boolean }) => !s.current)
      ?.id as string;
    // Revoke needs the CSRF token like every unsafe request.
    assert.equal(
      (
        await t.app.inject({
          method: "DELETE",
          url: `/api/v1/me/sessions/${bId}`,
          headers: { cookie: a.cookie },
        })
      ).statusCode,
      403,
    );
    assert.equal(
      (
        await t.app.inject({
          method: "DELETE",
          url: `/api/v1/me/sessions/${bId}`,
          headers: asSession(a),
        })
      ).statusCode,
      204,
    );
    const revoked = [b, c].map((s) => s.cookie).filter((cookie) => cookie.includes(""));
    const statuses = await Promise.all(
      revoked.map(async (cookie) => (await me(cookie)).statusCode),
    );
    assert.deepEqual(statuses.sort(), [200, 401], "exactly the revoked one is gone");
    assert.equal(
      (await t.app.inject({ method: "DELETE", url: "/api/v1/me/sessions", headers: asSession(a) }))
        .statusCode,
      204,
    );
    assert.equal((await me(b.cookie)).statusCode, 401);
    assert.equal((await me(c.cookie)).statusCode, 401);
    assert.equal((await me(a.cookie)).statusCode, 200, "the current session stays");
  });

  it("has no cap on concurrent sessions: every sign-in adds one, and none is ended for it", async () => {
    await createTestUser(t, { username: "many_devices" });
    const COUNT = 12;
    const sessions = [];
    for (let i = 0; i < COUNT; i++) sessions.push(await signIn(t, "many_devices"));
    const statuses = await Promise.all(sessions.map(async (s) => (await me(s.cookie)).statusCode));
    assert.deepEqual(new Set(statuses), new Set([200]), "the oldest session still works");
    const last = sessions.at(-1);
    assert.ok(last);
    const list = JSON.parse(
      (await t.app.inject({ url: "/api/v1/me/sessions", headers: { cookie: last.cookie } })).body,
    ) as { sessions: unknown[] };
    assert.equal(list.sessions.length, COUNT, "each is listed, for the user to end");
  });

  it("cannot revoke another user's session", async () => {
    await createTestUser(t, { username: "owner_o" });
    await createTestUser(t, { username: "intruder_i" });
    const owner = await signIn(t, "owner_o");
    const intruder = await signIn(t, "intruder_i");
    const ownerId = JSON.parse(
      (await t.app.inject({ url: "/api/v1/me/sessions", headers: { cookie: owner.cookie } })).body,
    ).sessions[0].id;
    const response = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/me/sessions/${ownerId}`,
      headers: asSession(intruder),
    });
    assert.equal(response.statusCode, 404);
    assert.equal((await me(owner.cookie)).statusCode, 200);
  });

  it("logout deletes the session server-side and clears site data", async () => {
    await createTestUser(t, { username: "leaving" });
    const session = await signIn(t, "leaving");
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout",
      headers: asSession(session),
    });
    assert.equal(response.statusCode, 204);
    assert.match(String(response.headers["clear-site-data"]), /cookies/);
    assert.equal((await me(session.cookie)).statusCode, 401, "a replayed cookie is dead");
  });

  it("a disabled user's sessions stop working at once", async () => {
    await createTestUser(t, { username: "to_disable" });
    const session = await signIn(t, "to_disable");
    await t.database.db
      .updateTable("users")
      .set({ disabled_at: t.clock.now().toISOString() })
      .where("username_key", "=", "to_disable")
      .execute();
    assert.equal((await me(session.cookie)).statusCode, 401);
  });

  it("password change rotates this session and ends the others", async () => {
    await createTestUser(t, { username: "changer" });
    const a = await signIn(t, "changer");
    const b = await signIn(t, "changer");
    const wrong = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/password",
      headers: asSession(a),
      payload: { currentPassword: "not-my-password-123", newPassword: "a-brand-new-passphrase-77" },
    });
    assert.equal(wrong.statusCode, 401);
    const weak = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/password",
      headers: asSession(a),
      payload: { currentPassword: GOOD_PASSWORD, newPassword: "short" },
    });
    assert.equal(weak.statusCode, 400);
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/password",
      headers: asSession(a),
      payload: { currentPassword: GOOD_PASSWORD, newPassword: "a-brand-new-passphrase-77" },
    });
    assert.equal(response.statusCode, 204, response.body);
    const rotated = sessionCookieFrom(response);
    assert.ok(rotated && rotated !== a.cookie);
    assert.equal((await me(a.cookie)).statusCode, 401, "old cookie of this browser");
    assert.equal((await me(b.cookie)).statusCode, 401, "other session");
    assert.equal((await me(rotated)).statusCode, 200);
    await signIn(t, "changer", "a-brand-new-passphrase-77");
  });
});

describe("CSRF", () => {
  it("unsafe cookie requests need this session's token; nothing changes without it", async () => {
    await createTestUser(t, { username: "csrf_victim", email: "victim@example.test" });
    await createTestUser(t, { username: "csrf_other" });
    const victim = await signIn(t, "csrf_victim");
    const other = await signIn(t, "csrf_other");
    const attempts: Array<[string, Record<string, string>]> = [
      ["no token", { cookie: victim.cookie }],
      ["wrong token", { cookie: victim.cookie, "x-csrf-token": "A".repeat(43) }],
      ["another session's token", { cookie: victim.cookie, "x-csrf-token": other.csrfToken }],
      ["empty token", { cookie: victim.cookie, "x-csrf-token": "" }],
    ];
    for (const [label, headers] of attempts) {
      const response = await t.app.inject({
        method: "PATCH",
        url: "/api/v1/me",
        headers,
        payload: { email: "attacker@example.test" },
      });
      assert.equal(response.statusCode, 403, label);
      assert.match(JSON.parse(response.body).type, /csrf-failed$/);
    }
    assert.equal(await emailOf("csrf_victim"), "victim@example.test");
    const ok = await t.app.inject({
      method: "PATCH",
      url: "/api/v1/me",
      headers: asSession(victim),
      payload: { email: "victim2@example.test" },
    });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(await emailOf("csrf_victim"), "victim2@example.test");
  });

  it("cross-origin requests are refused even with a valid token, and on login", async () => {
    await createTestUser(t, { username: "origin_u", email: "origin@example.test" });
    const session = await signIn(t, "origin_u");
    for (const headers of [
      { origin: "https://evil.example" },
      { "sec-fetch-site": "cross-site" },
      { "sec-fetch-site": "same-site" },
      { origin: "null" },
    ]) {
      const response = await t.app.inject({
        method: "PATCH",
        url: "/api/v1/me",
        headers: { ...asSession(session), ...headers },
        payload: { email: "evil@example.test" },
      });
      assert.equal(response.statusCode, 403, JSON.stringify(headers));
      const loginCsrf = await t.app.inject({
        method: "POST",
        url: "/api/v1/auth/login",
        headers,
        payload: { username: "origin_u", password: GOOD_PASSWORD },
      });
      assert.equal(loginCsrf.statusCode, 403, `login ${JSON.stringify(headers)}`);
    }
    assert.equal(await emailOf("origin_u"), "origin@example.test");
    const sameOrigin = await t.app.inject({
      method: "PATCH",
      url: "/api/v1/me",
      headers: {
        ...asSession(session),
        origin: "http://127.0.0.1:8080",
        "sec-fetch-site": "same-origin",
      },
      payload: { email: "origin2@example.test" },
    });
    assert.equal(sameOrigin.statusCode, 200);
  });

  it("PATCH /me cannot set role or username", async () => {
    await createTestUser(t, { username: "climber" });
    const session = await signIn(t, "climber");
    for (const payload of [
      { role: "admin" },
      { username: "root_user" },
      { email: "c@example.test", role: "admin" },
      { email: "c@example.test", username: "x_user" },
    ]) {
      const response = await t.app.inject({
        method: "PATCH",
        url: "/api/v1/me",
        headers: asSession(session),
        payload,
      });
      assert.equal(response.statusCode, 400, JSON.stringify(payload));
    }
    const row = await t.database.db
      .selectFrom("users")
      .select(["role", "username"])
      .where("username_key", "=", "climber")
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { role: "member", username: "climber" });
  });
});

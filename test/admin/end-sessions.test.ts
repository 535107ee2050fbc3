/**
 * Administrators end one user's sessions, or everyone's but their own (ASVS 7.4.5): after a
 * suspected compromise, without disabling anyone. Sessions only: API tokens keep working
 * (revoking them is the user's, or disabling the user is the administrator's, next step).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { listAuditEvents } from "../../src/audit/audit.repository.js";
import { createApiToken } from "../../src/tokens/tokens.service.js";
import type { SignedIn } from "../helpers/accounts.js";
import {
  asSession,
  createTestUser,
  GOOD_PASSWORD,
  sessionCookieFrom,
  signIn,
} from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";
import type { TestDatabaseKind } from "../helpers/databases.js";
import { testDatabaseTargets } from "../helpers/databases.js";

const MINUTE = 60_000;
const USERS = "/api/v1/admin/users";
const ALL_SESSIONS = "/api/v1/admin/sessions";

/** A test app (app.ts wires the admin routes) over a fresh database of `kind`. */
async function startApp(kind: TestDatabaseKind): Promise<TestApp> {
  const database = await kind.create();
  const started = await createTestApp({ target: database.target });
  const close = started.close;
  return {
    ...started,
    close: async () => {
      await close();
      await database.cleanup();
    },
  };
}

function json<T>(response: LightMyRequestResponse): T {
  return JSON.parse(response.body) as T;
}

function end(t: TestApp, as: SignedIn | null, url: string): Promise<LightMyRequestResponse> {
  return t.app.inject({ method: "DELETE", url, headers: as === null ? {} : asSession(as) });
}

const me = (t: TestApp, session: SignedIn) =>
  t.app.inject({ url: "/api/v1/me", headers: { cookie: session.cookie } });

/** Every session row, as `user_id/id`, in a stable order. */
async function sessionRows(t: TestApp): Promise<string[]> {
  const rows = await t.database.db
    .selectFrom("sessions")
    .select(["user_id", "id"])
    .orderBy("id")
    .execute();
  return rows.map((row) => `${row.user_id}/${row.id}`);
}

async function auditEvents(t: TestApp, action: string) {
  return listAuditEvents(t.database.db, { action, limit: 100 });
}

/** How many events of either new kind there are (a refused attempt must write none). */
async function endEventCount(t: TestApp): Promise<number> {
  return (
    (await auditEvents(t, "user.sessions-end")).length +
    (await auditEvents(t, "sessions.end-all")).length
  );
}

/** A vault of `session`'s user and a read token for it, to show tokens outlive sessions. */
async function readToken(
  t: TestApp,
  session: SignedIn,
  username: string,
  slug: string,
): Promise<string> {
  const vault = await t.app.inject({
    method: "POST",
    url: "/api/v1/vaults",
    headers: asSession(session),
    payload: { slug },
  });
  assert.equal(vault.statusCode, 201, vault.body);
  const { token } = await createApiToken(t.database.db, {
    userId: session.userId,
    username,
    name: "ci",
    scopes: [{ vault: slug, permission: "read" }],
    expiresInDays: 1,
    now: t.clock.now(),
    address: "127.0.0.1",
  });
  return token;
}

const withToken = (t: TestApp, token: string, slug: string) =>
  t.app.inject({
    url: `/api/v1/vaults/${slug}/secrets`,
    headers: { authorization: `Bearer ${token}` },
  });

function assertReauthRequired(response: LightMyRequestResponse, what: string): void {
  assert.equal(response.statusCode, 401, `${what}: ${response.body}`);
  assert.match(String(json<{ type: string }>(response).type), /reauth-required$/, what);
  assert.equal(sessionCookieFrom(response), null, `${what}: the session is not ended`);
}

function defineSuites(kind: TestDatabaseKind): void {
  describe("DELETE /admin/users/{username}/sessions", () => {
    let t: TestApp;
    let admin: SignedIn;

    before(async () => {
      t = await startApp(kind);
      await createTestUser(t, { username: "end_admin", role: "admin" });
      admin = await signIn(t, "end_admin");
    });
    after(async () => {
      await t.close();
    });

    it("ends every session of the user (200 with the count), audited, and nobody else's", async () => {
      const target = await createTestUser(t, { username: "Suspect_U" });
      const first = await signIn(t, "suspect_u");
      const second = await signIn(t, "suspect_u");
      await createTestUser(t, { username: "bystander" });
      const bystander = await signIn(t, "bystander");
      const token = await readToken(t, first, "suspect_u", "suspect-vault");

      const response = await end(t, admin, `${USERS}/SUSPECT_U/sessions`);
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(json(response), { endedSessions: 2 });

      assert.equal((await me(t, first)).statusCode, 401, "the old cookie is refused");
      assert.equal((await me(t, second)).statusCode, 401);
      assert.ok(!(await sessionRows(t)).some((row) => row.startsWith(`${target.id}/`)));
      assert.equal((await me(t, bystander)).statusCode, 200, "other users stay signed in");
      assert.equal((await me(t, admin)).statusCode, 200, "so does the administrator");
      assert.equal(
        (await withToken(t, token, "suspect-vault")).statusCode,
        200,
        "API tokens are not sessions: they keep working",
      );

      const [event] = await auditEvents(t, "user.sessions-end");
      assert.equal(event?.target, "Suspect_U");
      assert.equal(event?.actor_name, "end_admin");
      assert.equal(event?.outcome, "success");
      assert.deepEqual(JSON.parse(event?.details ?? "{}"), { endedSessions: 2 });

      // Ending sessions is not disabling: the user signs in again.
      const again = await signIn(t, "suspect_u");
      assert.equal((await me(t, again)).statusCode, 200);
    });

    it("answers 0 for a user without sessions, and records it", async () => {
      await createTestUser(t, { username: "no_sessions" });
      const response = await end(t, admin, `${USERS}/no_sessions/sessions`);
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(json(response), { endedSessions: 0 });
      const events = await auditEvents(t, "user.sessions-end");
      assert.deepEqual(JSON.parse(events[0]?.details ?? "{}"), { endedSessions: 0 });
      assert.equal(events[0]?.target, "no_sessions");
    });

    it("answers 404 for an unknown user and 400 for a malformed name, ending nothing", async () => {
      await signIn(t, "bystander");
      const before = await sessionRows(t);
      const events = await endEventCount(t);
      const unknown = await end(t, admin, `${USERS}/nobody_here/sessions`);
      assert.equal(unknown.statusCode, 404, unknown.body);
      for (const name of ["ab", "a.bc", "%00abcd", "x".repeat(26)])
        assert.equal((await end(t, admin, `${USERS}/${name}/sessions`)).statusCode, 400, name);
      assert.deepEqual(await sessionRows(t), before);
      assert.equal(await endEventCount(t), events, "nothing audited");
    });
  });

  describe("DELETE /admin/sessions", () => {
    let t: TestApp;

    before(async () => {
      t = await startApp(kind);
      await createTestUser(t, { username: "all_admin", role: "admin" });
      await createTestUser(t, { username: "other_admin", role: "admin" });
      await createTestUser(t, { username: "all_member" });
      await createTestUser(t, { username: "all_auditor", role: "auditor" });
    });
    after(async () => {
      await t.close();
    });

    it("ends every session but the caller's (200 with the count), audited; tokens keep working", async () => {
      const admin = await signIn(t, "all_admin");
      const adminElsewhere = await signIn(t, "all_admin");
      const otherAdmin = await signIn(t, "other_admin");
      const member = await signIn(t, "all_member");
      const auditor = await signIn(t, "all_auditor");
      const token = await readToken(t, member, "all_member", "member-vault");
      const others = (await sessionRows(t)).length - 1;
      assert.equal(others, 4);

      const response = await end(t, admin, ALL_SESSIONS);
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(json(response), { endedSessions: others });

      assert.equal((await me(t, admin)).statusCode, 200, "the caller stays signed in");
      for (const [name, session] of Object.entries({
        adminElsewhere,
        otherAdmin,
        member,
        auditor,
      }))
        assert.equal((await me(t, session)).statusCode, 401, name);
      const left = await sessionRows(t);
      assert.equal(left.length, 1, "only the caller's own session is left");
      assert.ok(left[0]?.startsWith(`${admin.userId}/`));
      assert.equal(
        (await withToken(t, token, "member-vault")).statusCode,
        200,
        "API tokens are not sessions: they keep working",
      );

      const [event] = await auditEvents(t, "sessions.end-all");
      assert.equal(event?.actor_name, "all_admin");
      assert.equal(event?.target, null);
      assert.deepEqual(JSON.parse(event?.details ?? "{}"), { endedSessions: 4 });

      // Done again, there is nothing left to end, and the caller's session is still kept.
      const again = await end(t, admin, ALL_SESSIONS);
      assert.deepEqual(json(again), { endedSessions: 0 });
      assert.equal((await me(t, admin)).statusCode, 200);
    });
  });

  describe("only fresh administrator sessions may end sessions", () => {
    let t: TestApp;
    let admin: SignedIn;
    let member: SignedIn;
    let auditor: SignedIn;
    let target: SignedIn;

    before(async () => {
      t = await startApp(kind);
      await createTestUser(t, { username: "gate_admin", role: "admin" });
      await createTestUser(t, { username: "gate_member" });
      await createTestUser(t, { username: "gate_auditor", role: "auditor" });
      await createTestUser(t, { username: "gate_target" });
      admin = await signIn(t, "gate_admin");
      member = await signIn(t, "gate_member");
      auditor = await signIn(t, "gate_auditor");
      target = await signIn(t, "gate_target");
    });
    after(async () => {
      await t.close();
    });

    const urls = [`${USERS}/gate_target/sessions`, `${USERS}/nobody_here/sessions`, ALL_SESSIONS];

    /** Runs `attempt` for every URL; asserts no session ended and nothing was audited. */
    async function refusedEverywhere(
      attempt: (url: string) => Promise<LightMyRequestResponse>,
      status: number,
    ): Promise<void> {
      const before = await sessionRows(t);
      const events = await endEventCount(t);
      for (const url of urls) {
        const response = await attempt(url);
        assert.equal(response.statusCode, status, `${url}: ${response.body}`);
      }
      assert.deepEqual(await sessionRows(t), before, "no session ended");
      assert.equal(await endEventCount(t), events, "nothing audited");
      assert.equal((await me(t, target)).statusCode, 200, "the target is still signed in");
    }

    it("a member or an auditor gets 403", async () => {
      for (const session of [member, auditor])
        await refusedEverywhere((url) => end(t, session, url), 403);
    });

    it("an anonymous caller gets 401", async () => {
      await refusedEverywhere((url) => end(t, null, url), 401);
    });

    it("an administrator's API token gets 403: ending sessions needs a session", async () => {
      const token = await readToken(t, admin, "gate_admin", "gate-vault");
      await refusedEverywhere(
        (url) =>
          t.app.inject({ method: "DELETE", url, headers: { authorization: `Bearer ${token}` } }),
        403,
      );
    });

    it("an administrator without the CSRF token gets 403", async () => {
      await refusedEverywhere(
        (url) => t.app.inject({ method: "DELETE", url, headers: { cookie: admin.cookie } }),
        403,
      );
    });

    it("a stale administrator session must prove itself again (401 reauth-required)", async () => {
      t.clock.advance(11 * MINUTE);
      const before = await sessionRows(t);
      const events = await endEventCount(t);
      for (const url of urls) assertReauthRequired(await end(t, admin, url), url);
      assert.deepEqual(await sessionRows(t), before, "no session ended");
      assert.equal(await endEventCount(t), events, "nothing audited");
      assert.equal((await me(t, target)).statusCode, 200);

      const proven = await t.app.inject({
        method: "POST",
        url: "/api/v1/auth/reauth",
        headers: asSession(admin),
        payload: { password: GOOD_PASSWORD },
      });
      assert.equal(proven.statusCode, 200, proven.body);
      const ended = await end(t, admin, `${USERS}/gate_target/sessions`);
      assert.equal(ended.statusCode, 200, ended.body);
      assert.equal((await me(t, target)).statusCode, 401);
    });
  });
}

for (const kind of testDatabaseTargets()) {
  describe(`ending sessions on ${kind.name}`, () => defineSuites(kind));
}

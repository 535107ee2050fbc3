import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { countAdministrators } from "../../src/accounts/admin-actions.service.js";
import { listAuditEvents } from "../../src/audit/audit.repository.js";
import { randomId } from "../../src/lib/random.js";
import { createApiToken } from "../../src/tokens/tokens.service.js";
import type { SignedIn } from "../helpers/accounts.js";
import { asSession, createTestUser, GOOD_PASSWORD, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";
import type { TestDatabaseKind } from "../helpers/databases.js";
import { testDatabaseTargets } from "../helpers/databases.js";

const USERS = "/api/v1/admin/users";

/** A test app (app.ts wires the admin routes) over a fresh database of `kind`. */
async function startApp(
  kind: TestDatabaseKind,
  env: Record<string, string> = {},
): Promise<TestApp> {
  const database = await kind.create();
  const started = await createTestApp({ env, target: database.target });
  const close = started.close;
  return {
    ...started,
    close: async () => {
      await close();
      await database.cleanup();
    },
  };
}

interface UserBody {
  id: string;
  username: string;
  email: string;
  role: string;
  disabled: boolean;
  mfaEnabled: boolean;
  createdAt: string;
}

function json<T>(response: LightMyRequestResponse): T {
  return JSON.parse(response.body) as T;
}

function problemCode(response: LightMyRequestResponse): string {
  return json<{ type: string }>(response).type.split("#")[1] ?? "";
}

async function request(
  t: TestApp,
  as: SignedIn | null,
  method: "GET" | "POST" | "PATCH" | "DELETE",
  url: string,
  payload?: unknown,
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method,
    url,
    headers: as === null ? {} : asSession(as),
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

const me = (t: TestApp, session: SignedIn) =>
  t.app.inject({ url: "/api/v1/me", headers: { cookie: session.cookie } });

async function userRow(t: TestApp, username: string) {
  return t.database.db
    .selectFrom("users")
    .selectAll()
    .where("username_key", "=", username.toLowerCase())
    .executeTakeFirst();
}

async function sessionCount(t: TestApp, userId: string): Promise<number> {
  const rows = await t.database.db
    .selectFrom("sessions")
    .select("id")
    .where("user_id", "=", userId)
    .execute();
  return rows.length;
}

/** Everything the admin API could change, to prove an attempt changed nothing. */
async function snapshot(t: TestApp): Promise<string> {
  const db = t.database.db;
  return JSON.stringify([
    await db
      .selectFrom("users")
      .select(["id", "username", "email", "role", "disabled_at", "updated_at"])
      .orderBy("id")
      .execute(),
    await db.selectFrom("sessions").select(["id", "user_id"]).orderBy("id").execute(),
    await db.selectFrom("api_tokens").select(["id", "revoked_at"]).orderBy("id").execute(),
    await db
      .selectFrom("vault_members")
      .select(["vault_id", "user_id", "role"])
      .orderBy("vault_id")
      .orderBy("user_id")
      .execute(),
  ]);
}

async function insertToken(
  t: TestApp,
  userId: string,
  revokedAt: string | null = null,
): Promise<string> {
  const id = randomId();
  const now = t.clock.now();
  await t.database.db
    .insertInto("api_tokens")
    .values({
      id,
      user_id: userId,
      name: `token-${id.slice(0, 8)}`,
      token_hash: randomId().replaceAll("-", ""),
      scopes: "[]",
      expires_at: new Date(now.getTime() + 86_400_000).toISOString(),
      last_used_at: null,
      created_at: now.toISOString(),
      revoked_at: revokedAt,
    })
    .execute();
  return id;
}

async function insertVault(
  t: TestApp,
  slug: string,
  members: Array<{ userId: string; role: "owner" | "editor" | "viewer" }>,
): Promise<string> {
  const id = randomId();
  const at = t.clock.now().toISOString();
  await t.database.db
    .insertInto("vaults")
    .values({ id, slug, created_at: at, updated_at: at })
    .execute();
  for (const member of members) {
    await t.database.db
      .insertInto("vault_members")
      .values({ vault_id: id, user_id: member.userId, role: member.role, created_at: at })
      .execute();
  }
  return id;
}

async function auditEvents(t: TestApp, action: string) {
  return listAuditEvents(t.database.db, { action, limit: 100 });
}

function defineSuites(kind: TestDatabaseKind): void {
  describe("GET /admin/users", () => {
    let t: TestApp;
    let admin: SignedIn;

    before(async () => {
      t = await startApp(kind);
      await createTestUser(t, { username: "root_admin", role: "admin" });
      await createTestUser(t, { username: "Alice_W", email: "Alice.W@Example.test" });
      await createTestUser(t, { username: "ab_cd" });
      await createTestUser(t, { username: "abxcd" });
      await createTestUser(t, { username: "percent_u", email: "per%cent@example.test" });
      await createTestUser(t, { username: "bang_user", email: "bang!x@example.test" });
      await createTestUser(t, { username: "aud_itor", role: "auditor" });
      const gone = await createTestUser(t, { username: "gone_user" });
      await t.database.db
        .updateTable("users")
        .set({ disabled_at: t.clock.now().toISOString() })
        .where("id", "=", gone.id)
        .execute();
      admin = await signIn(t, "root_admin");
    });
    after(async () => {
      await t.close();
    });

    const list = async (query: string) => {
      const response = await request(t, admin, "GET", `${USERS}${query}`);
      assert.equal(response.statusCode, 200, response.body);
      return json<{ users: UserBody[]; nextCursor: string | null }>(response);
    };
    const names = async (query: string) => (await list(query)).users.map((u) => u.username);

    it("lists everyone in username order, showing only the public user fields", async () => {
      const page = await list("");
      assert.deepEqual(
        page.users.map((u) => u.username),
        [
          "ab_cd",
          "abxcd",
          "Alice_W",
          "aud_itor",
          "bang_user",
          "gone_user",
          "percent_u",
          "root_admin",
        ],
      );
      assert.equal(page.nextCursor, null);
      const alice = page.users.find((u) => u.username === "Alice_W");
      assert.deepEqual(Object.keys(alice ?? {}).sort(), [
        "createdAt",
        "disabled",
        "email",
        "id",
        "mfaEnabled",
        "passkeyEnabled",
        "role",
        "username",
      ]);
      assert.ok(!page.users.some((u) => JSON.stringify(u).includes("argon2")));
    });

    it("pages through everyone with the cursor, each user exactly once", async () => {
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const query: string = `?limit=3${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
        const page = await list(query);
        assert.ok(page.users.length <= 3);
        seen.push(...page.users.map((u) => u.username));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null && pages < 10);
      assert.equal(pages, 3);
      assert.deepEqual(seen, await names(""));
    });

    it("filters by a case-insensitive substring of the username or e-mail address", async () => {
      assert.deepEqual(await names("?query=ALICE"), ["Alice_W"]);
      assert.deepEqual(await names("?query=alice.w%40example"), ["Alice_W"]);
      assert.deepEqual(await names("?query=nobody"), []);
    });

    it("matches LIKE wildcards and the escape character literally", async () => {
      assert.deepEqual(await names("?query=b_c"), ["ab_cd"], "_ is not a wildcard");
      assert.deepEqual(await names("?query=%25"), ["percent_u"], "% is not a wildcard");
      assert.deepEqual(await names("?query=!"), ["bang_user"]);
      assert.deepEqual(await names("?query=!x"), ["bang_user"]);
      assert.deepEqual(await names("?query=%5C"), [], "a backslash is an ordinary character");
      assert.deepEqual(await names("?query='%20or%20'1'%3D'1"), []);
    });

    it("filters by role and by the disabled flag, combined with the search", async () => {
      assert.deepEqual(await names("?role=admin"), ["root_admin"]);
      assert.deepEqual(await names("?role=auditor"), ["aud_itor"]);
      assert.deepEqual(await names("?disabled=true"), ["gone_user"]);
      assert.ok(!(await names("?disabled=false")).includes("gone_user"));
      assert.deepEqual(await names("?query=ab&role=member&disabled=false"), ["ab_cd", "abxcd"]);
      assert.deepEqual(await names("?query=ab&role=admin"), []);
    });

    it("refuses forged, altered and foreign cursors with 400", async () => {
      const first = await list("?limit=2");
      const cursor = first.nextCursor ?? "";
      assert.ok(cursor.length > 0);
      const [, mac] = cursor.split(".");
      const forged = [
        "forged",
        "AAAA.BBBB",
        `${Buffer.from("zzzz").toString("base64url")}.${mac}`,
        `${cursor.slice(0, -1)}${cursor.endsWith("A") ? "B" : "A"}`,
        `${cursor}.extra`,
        "x".repeat(129),
      ];
      for (const value of forged) {
        const response = await request(
          t,
          admin,
          "GET",
          `${USERS}?limit=2&cursor=${encodeURIComponent(value)}`,
        );
        assert.equal(response.statusCode, 400, value);
        assert.equal(problemCode(response), "validation-failed");
      }
      // A cursor belongs to its filter: used with another one it would skip users silently.
      const other = await request(
        t,
        admin,
        "GET",
        `${USERS}?limit=2&role=member&cursor=${encodeURIComponent(cursor)}`,
      );
      assert.equal(other.statusCode, 400);
      // The page size may change between pages.
      const resized = await list(`?limit=50&cursor=${encodeURIComponent(cursor)}`);
      assert.equal(resized.users.length, 6);
    });

    it("refuses bad parameters with 400", async () => {
      for (const query of [
        "?limit=0",
        "?limit=201",
        "?limit=abc",
        "?limit=-1",
        "?limit=1.5",
        "?limit=",
        `?query=${"a".repeat(255)}`,
        "?query=",
        "?role=root",
        "?disabled=yes",
        "?role=admin&role=member",
        "?unknown=1",
      ]) {
        const response = await request(t, admin, "GET", `${USERS}${query}`);
        assert.equal(response.statusCode, 400, query);
      }
      assert.equal((await list("?limit=200")).users.length, 8);
      assert.equal((await list(`?query=${"a".repeat(254)}`)).users.length, 0);
    });
  });

  describe("only administrators with a session may administer users", () => {
    let t: TestApp;
    let admin: SignedIn;
    let member: SignedIn;
    let auditor: SignedIn;
    let adminId: string;

    before(async () => {
      t = await startApp(kind);
      adminId = (await createTestUser(t, { username: "boss_admin", role: "admin" })).id;
      await createTestUser(t, { username: "plain_member" });
      await createTestUser(t, { username: "log_auditor", role: "auditor" });
      await createTestUser(t, { username: "victim_user" });
      admin = await signIn(t, "boss_admin");
      member = await signIn(t, "plain_member");
      auditor = await signIn(t, "log_auditor");
    });
    after(async () => {
      await t.close();
    });

    const attempts: Array<
      [method: "GET" | "POST" | "PATCH" | "DELETE", url: string, body?: unknown]
    > = [
      ["GET", USERS],
      [
        "POST",
        USERS,
        { username: "sneaky_new", email: "sneaky@example.test", password: GOOD_PASSWORD },
      ],
      ["POST", USERS, { username: "x" }],
      ["PATCH", `${USERS}/plain_member`, { role: "admin" }],
      ["PATCH", `${USERS}/log_auditor`, { role: "admin" }],
      ["PATCH", `${USERS}/boss_admin`, { disabled: true }],
      ["PATCH", `${USERS}/victim_user`, { username: "invalid" }],
      ["DELETE", `${USERS}/victim_user`],
      ["DELETE", `${USERS}/nobody_here`],
    ];

    it("a member gets 403 for every route, and nothing changes", async () => {
      const before = await snapshot(t);
      for (const [method, url, body] of attempts) {
        const response = await request(t, member, method, url, body);
        assert.equal(response.statusCode, 403, `${method} ${url}`);
      }
      assert.equal(await snapshot(t), before);
    });

    it("an auditor gets 403 for every route, and nothing changes", async () => {
      const before = await snapshot(t);
      for (const [method, url, body] of attempts) {
        const response = await request(t, auditor, method, url, body);
        assert.equal(response.statusCode, 403, `${method} ${url}`);
      }
      assert.equal(await snapshot(t), before);
    });

    it("an anonymous caller gets 401 for every route, and nothing changes", async () => {
      const before = await snapshot(t);
      for (const [method, url, body] of attempts) {
        const response = await request(t, null, method, url, body);
        assert.equal(response.statusCode, 401, `${method} ${url}`);
      }
      assert.equal(await snapshot(t), before);
    });

    it("an administrator's API token gets 403: user administration needs a session", async () => {
      // A real token of the administrator, scoped to a vault of theirs.
      const now = new Date().toISOString();
      await t.database.db
        .insertInto("vaults")
        .values({
          id: "admin-vault-id",
          slug: "admin-own",
          description: "",
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
      await t.database.db
        .insertInto("vault_members")
        .values({ vault_id: "admin-vault-id", user_id: adminId, role: "owner", created_at: now })
        .onConflict((oc) => oc.doNothing())
        .execute();
      const { token } = await createApiToken(t.database.db, {
        userId: adminId,
        username: "boss_admin",
        name: "ops",
        scopes: [{ vault: "admin-own", permission: "write" }],
        expiresInDays: 1,
        now: new Date(),
        address: "127.0.0.1",
      });
      const before = await snapshot(t);
      for (const [method, url, body] of attempts) {
        const response = await t.app.inject({
          method,
          url,
          headers: { authorization: `Bearer ${token}` },
          ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
        });
        assert.equal(response.statusCode, 403, `${method} ${url}`);
      }
      assert.equal(await snapshot(t), before);
    });

    it("an administrator without the CSRF token gets 403, and nothing changes", async () => {
      const before = await snapshot(t);
      for (const [method, url, body] of attempts.filter(([m]) => m !== "GET")) {
        const response = await t.app.inject({
          method,
          url,
          headers: { cookie: admin.cookie },
          ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
        });
        assert.equal(response.statusCode, 403, `${method} ${url}`);
      }
      assert.equal(await snapshot(t), before);
      assert.equal((await request(t, admin, "GET", USERS)).statusCode, 200);
    });
  });

  describe("POST /admin/users", () => {
    let t: TestApp;
    let admin: SignedIn;

    before(async () => {
      // Creating accounts is how users are made when self-service registration is off.
      t = await startApp(kind, { REGISTRATION: "closed" });
      await createTestUser(t, { username: "maker_admin", role: "admin" });
      admin = await signIn(t, "maker_admin");
    });
    after(async () => {
      await t.close();
    });

    it("creates an active account (201) that can sign in, and audits it", async () => {
      const response = await request(t, admin, "POST", USERS, {
        username: "New_Hire",
        email: "new.hire@example.test",
        password: GOOD_PASSWORD,
        role: "auditor",
      });
      assert.equal(response.statusCode, 201, response.body);
      const { user } = json<{ user: UserBody }>(response);
      assert.equal(user.username, "New_Hire");
      assert.equal(user.role, "auditor");
      assert.equal(user.disabled, false);
      assert.ok(!response.body.includes("argon2") && !response.body.includes(GOOD_PASSWORD));
      const session = await signIn(t, "new_hire");
      assert.equal(session.userId, user.id);
      const [event] = await auditEvents(t, "user.create");
      assert.equal(event?.target, "New_Hire");
      assert.equal(event?.actor_name, "maker_admin");
    });

    it("makes members unless told otherwise", async () => {
      const response = await request(t, admin, "POST", USERS, {
        username: "default_role",
        email: "default.role@example.test",
        password: GOOD_PASSWORD,
      });
      assert.equal(response.statusCode, 201, response.body);
      assert.equal(json<{ user: UserBody }>(response).user.role, "member");
    });

    it("refuses a taken username (in any case) or e-mail address with 409", async () => {
      const before = await snapshot(t);
      for (const body of [
        { username: "NEW_HIRE", email: "other@example.test" },
        { username: "another_one", email: "NEW.HIRE@example.test" },
      ]) {
        const response = await request(t, admin, "POST", USERS, {
          ...body,
          password: GOOD_PASSWORD,
        });
        assert.equal(response.statusCode, 409, JSON.stringify(body));
      }
      assert.equal(await snapshot(t), before);
    });

    it("refuses weak passwords and invalid fields with 400", async () => {
      const before = await snapshot(t);
      const valid = { username: "weak_user", email: "weak@example.test", password: GOOD_PASSWORD };
      for (const body of [
        { ...valid, password: "short" },
        { ...valid, password: "password1234567890" },
        { ...valid, password: "weak_user_weak_user" },
        { ...valid, username: "no" },
        { ...valid, username: "bad name!" },
        { ...valid, email: "not-an-address" },
        { ...valid, role: "root" },
        { ...valid, disabled: true },
        { username: "weak_user", email: "weak@example.test" },
      ]) {
        const response = await request(t, admin, "POST", USERS, body);
        assert.equal(response.statusCode, 400, JSON.stringify(body));
      }
      assert.equal(await snapshot(t), before);
    });
  });

  describe("PATCH and DELETE /admin/users/{username}", () => {
    let t: TestApp;
    let admin: SignedIn;

    before(async () => {
      t = await startApp(kind);
      await createTestUser(t, { username: "chief_admin", role: "admin" });
      admin = await signIn(t, "chief_admin");
    });
    after(async () => {
      await t.close();
    });

    it("a role change ends the user's sessions and is audited", async () => {
      const target = await createTestUser(t, { username: "role_target" });
      const session = await signIn(t, "role_target");
      assert.equal((await me(t, session)).statusCode, 200);

      const response = await request(t, admin, "PATCH", `${USERS}/ROLE_TARGET`, {
        role: "auditor",
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(json<{ user: UserBody }>(response).user.role, "auditor");
      assert.equal((await me(t, session)).statusCode, 401, "the old cookie no longer works");
      assert.equal(await sessionCount(t, target.id), 0);
      assert.equal((await userRow(t, "role_target"))?.role, "auditor");
      const [event] = await auditEvents(t, "user.role");
      assert.equal(event?.target, "role_target");
      assert.equal(event?.actor_name, "chief_admin");
      assert.deepEqual(JSON.parse(event?.details ?? "{}"), {
        from: "member",
        to: "auditor",
        endedSessions: 1,
      });

      // Signing in again gives the new role.
      const again = await signIn(t, "role_target");
      assert.equal(json<{ user: UserBody }>(await me(t, again)).user.role, "auditor");
    });

    it("setting the role a user already has changes nothing", async () => {
      await createTestUser(t, { username: "same_role" });
      const session = await signIn(t, "same_role");
      const events = (await auditEvents(t, "user.role")).length;
      const response = await request(t, admin, "PATCH", `${USERS}/same_role`, { role: "member" });
      assert.equal(response.statusCode, 200);
      assert.equal((await me(t, session)).statusCode, 200);
      assert.equal((await auditEvents(t, "user.role")).length, events);
    });

    it("disabling ends every session and revokes every API token; enabling lets them back", async () => {
      const target = await createTestUser(t, { username: "disable_me" });
      const first = await signIn(t, "disable_me");
      const second = await signIn(t, "disable_me");
      const live = [await insertToken(t, target.id), await insertToken(t, target.id)];
      const earlier = new Date(t.clock.now().getTime() - 60_000).toISOString();
      const alreadyRevoked = await insertToken(t, target.id, earlier);
      const bystander = await createTestUser(t, { username: "bystander" });
      const bystanderToken = await insertToken(t, bystander.id);
      const bystanderSession = await signIn(t, "bystander");

      const response = await request(t, admin, "PATCH", `${USERS}/disable_me`, { disabled: true });
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(json<{ user: UserBody }>(response).user.disabled, true);

      assert.equal((await me(t, first)).statusCode, 401);
      assert.equal((await me(t, second)).statusCode, 401);
      assert.equal(await sessionCount(t, target.id), 0);
      const tokens = await t.database.db
        .selectFrom("api_tokens")
        .select(["id", "revoked_at"])
        .execute();
      const revokedAt = new Map(tokens.map((row) => [row.id, row.revoked_at]));
      for (const id of live) assert.ok(revokedAt.get(id), "live token revoked");
      assert.equal(revokedAt.get(alreadyRevoked), earlier, "an older revocation is kept");
      assert.equal(revokedAt.get(bystanderToken), null, "other users' tokens are untouched");
      assert.equal((await me(t, bystanderSession)).statusCode, 200);

      const login = await t.app.inject({
        method: "POST",
        url: "/api/v1/auth/login",
        payload: { username: "disable_me", password: GOOD_PASSWORD },
      });
      assert.equal(login.statusCode, 401, "a disabled user cannot sign in");
      const [disable] = await auditEvents(t, "user.disable");
      assert.equal(disable?.target, "disable_me");
      assert.deepEqual(JSON.parse(disable?.details ?? "{}"), {
        endedSessions: 2,
        revokedTokens: 2,
      });

      const enable = await request(t, admin, "PATCH", `${USERS}/disable_me`, { disabled: false });
      assert.equal(enable.statusCode, 200, enable.body);
      assert.equal(json<{ user: UserBody }>(enable).user.disabled, false);
      await signIn(t, "disable_me");
      for (const id of live) {
        const row = await t.database.db
          .selectFrom("api_tokens")
          .select("revoked_at")
          .where("id", "=", id)
          .executeTakeFirstOrThrow();
        assert.ok(row.revoked_at, "revoked tokens stay revoked after re-enabling");
      }
      const [enabled] = await auditEvents(t, "user.enable");
      assert.equal(enabled?.target, "disable_me");
    });

    it("accepts only role and disabled: anything else is a 400 and changes nothing", async () => {
      await createTestUser(t, { username: "strict_target" });
      const before = await snapshot(t);
      for (const body of [
        { username: "renamed" },
        { email: "new@example.test" },
        { password: GOOD_PASSWORD },
        { role: "member", username: "renamed" },
        { role: "member", isAdmin: true },
        { disabled: false, email: "new@example.test" },
        {},
        { role: "root" },
        { role: "ADMIN" },
        { disabled: "true" },
        { disabled: null },
      ]) {
        const response = await request(t, admin, "PATCH", `${USERS}/strict_target`, body);
        assert.equal(response.statusCode, 400, JSON.stringify(body));
      }
      assert.equal(await snapshot(t), before);
    });

    it("answers 404 for an unknown user and 400 for a malformed name", async () => {
      const before = await snapshot(t);
      assert.equal(
        (await request(t, admin, "PATCH", `${USERS}/nobody_here`, { role: "admin" })).statusCode,
        404,
      );
      assert.equal((await request(t, admin, "DELETE", `${USERS}/nobody_here`)).statusCode, 404);
      for (const name of ["ab", "a%2Fb", "a.bc", "%00abcd", "%C3%A9l%C3%A9ment", "x".repeat(26)]) {
        const response = await request(t, admin, "PATCH", `${USERS}/${name}`, { role: "admin" });
        assert.equal(response.statusCode, 400, name);
      }
      assert.equal(await snapshot(t), before);
    });

    it("refuses to delete the only owner of a vault (409), deleting nothing", async () => {
      const owner = await createTestUser(t, { username: "lone_owner" });
      const colleague = await createTestUser(t, { username: "colleague" });
      await insertVault(t, "lone-vault", [
        { userId: owner.id, role: "owner" },
        { userId: colleague.id, role: "editor" },
      ]);
      await insertVault(t, "second-lone", [{ userId: owner.id, role: "owner" }]);
      await insertVault(t, "shared-vault", [
        { userId: owner.id, role: "owner" },
        { userId: colleague.id, role: "owner" },
      ]);
      const session = await signIn(t, "lone_owner");
      const token = await insertToken(t, owner.id);
      const before = await snapshot(t);

      const response = await request(t, admin, "DELETE", `${USERS}/lone_owner`);
      assert.equal(response.statusCode, 409, response.body);
      assert.equal(problemCode(response), "sole-vault-owner");
      assert.match(json<{ detail: string }>(response).detail, /only owner of 2 vaults/);
      assert.equal(await snapshot(t), before);
      assert.equal((await me(t, session)).statusCode, 200);
      assert.ok(await userRow(t, "lone_owner"));
      assert.ok(
        await t.database.db
          .selectFrom("api_tokens")
          .select("id")
          .where("id", "=", token)
          .executeTakeFirst(),
      );
    });

    it("deletes a user (204): sessions, tokens and memberships go; co-owned vaults stay", async () => {
      const leaver = await createTestUser(t, { username: "leaver" });
      const peer = await createTestUser(t, { username: "peer_owner" });
      const coOwned = await insertVault(t, "co-owned", [
        { userId: leaver.id, role: "owner" },
        { userId: peer.id, role: "owner" },
      ]);
      const edited = await insertVault(t, "edited-only", [
        { userId: peer.id, role: "owner" },
        { userId: leaver.id, role: "editor" },
      ]);
      const session = await signIn(t, "leaver");
      await insertToken(t, leaver.id);

      const response = await request(t, admin, "DELETE", `${USERS}/Leaver`);
      assert.equal(response.statusCode, 204, response.body);
      assert.equal(response.body, "");

      assert.equal(await userRow(t, "leaver"), undefined);
      assert.equal((await me(t, session)).statusCode, 401);
      assert.equal(await sessionCount(t, leaver.id), 0);
      const db = t.database.db;
      assert.deepEqual(
        await db.selectFrom("api_tokens").select("id").where("user_id", "=", leaver.id).execute(),
        [],
      );
      const memberships = await db
        .selectFrom("vault_members")
        .select(["vault_id", "user_id", "role"])
        .where("vault_id", "in", [coOwned, edited])
        .orderBy("vault_id")
        .execute();
      assert.deepEqual(
        memberships.map((m) => m.user_id),
        [peer.id, peer.id],
      );
      assert.equal(
        (await db.selectFrom("vaults").select("id").where("id", "in", [coOwned, edited]).execute())
          .length,
        2,
      );
      const [event] = await auditEvents(t, "user.delete");
      assert.equal(event?.target, "leaver");
      assert.equal(event?.actor_name, "chief_admin");

      // The name is free again.
      const recreated = await request(t, admin, "POST", USERS, {
        username: "leaver",
        email: "leaver@example.test",
        password: GOOD_PASSWORD,
      });
      assert.equal(recreated.statusCode, 201, recreated.body);
    });
  });

  describe("the last enabled administrator", () => {
    let t: TestApp;
    let only: SignedIn;

    before(async () => {
      t = await startApp(kind);
      await createTestUser(t, { username: "only_admin", role: "admin" });
      only = await signIn(t, "only_admin");
    });
    after(async () => {
      await t.close();
    });

    it("cannot be demoted, disabled or deleted, not even by themselves (409)", async () => {
      const before = await snapshot(t);
      for (const [method, body] of [
        ["PATCH", { role: "member" }],
        ["PATCH", { role: "auditor" }],
        ["PATCH", { disabled: true }],
        ["PATCH", { role: "admin", disabled: true }],
        ["DELETE", undefined],
      ] as const) {
        const response = await request(t, only, method, `${USERS}/only_admin`, body);
        assert.equal(response.statusCode, 409, `${method} ${JSON.stringify(body)}`);
        assert.equal(problemCode(response), "last-administrator");
      }
      assert.equal(await snapshot(t), before);
      const profile = await me(t, only);
      assert.equal(profile.statusCode, 200);
      assert.equal(json<{ user: UserBody }>(profile).user.role, "admin");
      assert.equal(await countAdministrators(t.database.db), 1);
    });

    it("a disabled administrator does not count; the enabled one stays protected", async () => {
      const created = await request(t, only, "POST", USERS, {
        username: "second_admin",
        email: "second.admin@example.test",
        password: GOOD_PASSWORD,
        role: "admin",
      });
      assert.equal(created.statusCode, 201, created.body);
      const disabled = await request(t, only, "PATCH", `${USERS}/second_admin`, { disabled: true });
      assert.equal(disabled.statusCode, 200, disabled.body);

      const demoteSelf = await request(t, only, "PATCH", `${USERS}/only_admin`, { role: "member" });
      assert.equal(demoteSelf.statusCode, 409);
      // Changing the disabled administrator is fine: they are not the one keeping access.
      const demoteOther = await request(t, only, "PATCH", `${USERS}/second_admin`, {
        role: "member",
      });
      assert.equal(demoteOther.statusCode, 200, demoteOther.body);
      assert.equal((await request(t, only, "DELETE", `${USERS}/second_admin`)).statusCode, 204);
      assert.equal(await countAdministrators(t.database.db), 1);
    });

    it("with another administrator, one may step down; their own session ends", async () => {
      await createTestUser(t, { username: "deputy_admin", role: "admin" });
      const deputy = await signIn(t, "deputy_admin");
      const response = await request(t, deputy, "PATCH", `${USERS}/deputy_admin`, {
        role: "member",
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.equal((await me(t, deputy)).statusCode, 401);
      assert.equal((await userRow(t, "deputy_admin"))?.role, "member");
      assert.equal(await countAdministrators(t.database.db), 1);
    });

    it("two administrators demoting each other at once leave exactly one", async () => {
      // Several rounds: which request wins, and whether they interleave, varies per run.
      for (let round = 0; round < 5; round++) {
        const [survivor] = await t.database.db
          .selectFrom("users")
          .select("username")
          .where("role", "=", "admin")
          .where("disabled_at", "is", null)
          .execute();
        assert.ok(survivor);
        const rivalName = `rival_admin_${round}`;
        await createTestUser(t, { username: rivalName, role: "admin" });
        const [mine, theirs] = [await signIn(t, survivor.username), await signIn(t, rivalName)];
        const responses = await Promise.all([
          request(t, mine, "PATCH", `${USERS}/${rivalName}`, { role: "member" }),
          request(t, theirs, "PATCH", `${USERS}/${survivor.username}`, { role: "member" }),
        ]);
        const statuses = responses.map((r) => r.statusCode);
        assert.equal(statuses.filter((s) => s === 200).length, 1, JSON.stringify(statuses));
        // The loser is refused as the last administrator, or (if it arrives after the
        // demotion) as a caller whose session ended.
        assert.ok(
          statuses.every((s) => s === 200 || s === 401 || s === 403 || s === 409),
          JSON.stringify(statuses),
        );
        assert.equal(await countAdministrators(t.database.db), 1);
      }
    });
  });
}

for (const kind of testDatabaseTargets()) {
  describe(`admin users on ${kind.name}`, () => defineSuites(kind));
}

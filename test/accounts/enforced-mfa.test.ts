/**
 * Enforced two-factor (`REQUIRE_MFA`): a user who must have a second factor and has none can,
 * after signing in with the password, only see their profile, enrol, re-authenticate and sign
 * out; every other API route answers 403 `mfa-enrolment-required`, and so do their API tokens
 * (also those minted before the policy), until enrolment is confirmed.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { generateTotpCode } from "../../src/accounts/totp.js";
import { createApiToken } from "../../src/tokens/tokens.service.js";
import type { SignedIn } from "../helpers/accounts.js";
import { asSession, createTestUser, sessionCookieFrom, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

/**
 * The API routes a session held to enrolment may use besides those open to strangers (which
 * answer a caller without credentials with something other than 401, and grant nothing a
 * stranger could not have).
 */
const OPEN_DURING_ENROLMENT = new Set([
  "GET /api/v1/me",
  "POST /api/v1/me/mfa/totp",
  "POST /api/v1/me/mfa/totp/confirm",
  // A passkey is a second factor too: listing and adding one is enrolling.
  "GET /api/v1/me/passkeys",
  "POST /api/v1/me/passkeys/options",
  "POST /api/v1/me/passkeys",
  "POST /api/v1/auth/reauth",
]);

function assertEnrolmentRequired(response: LightMyRequestResponse, what: string): void {
  assert.equal(response.statusCode, 403, `${what}: ${response.body}`);
  assert.match(String(response.headers["content-type"]), /^application\/problem\+json/, what);
  assert.match(String(JSON.parse(response.body).type), /mfa-enrolment-required$/, what);
}

async function enrol(t: TestApp, session: SignedIn): Promise<SignedIn> {
  const start = await t.app.inject({
    method: "POST",
    url: "/api/v1/me/mfa/totp",
    headers: asSession(session),
  });
  assert.equal(start.statusCode, 200, start.body);
  const { secret } = JSON.parse(start.body) as { secret: string };
  const confirm = await t.app.inject({
    method: "POST",
    url: "/api/v1/me/mfa/totp/confirm",
    headers: asSession(session),
    payload: { code: generateTotpCode(secret, t.clock.now().getTime()) },
  });
  assert.equal(confirm.statusCode, 200, confirm.body);
  const body = JSON.parse(confirm.body) as { recoveryCodes: string[]; csrfToken: string };
  assert.equal(body.recoveryCodes.length, 10, "confirmation hands out the recovery codes");
  const cookie = sessionCookieFrom(confirm);
  assert.ok(cookie);
  return { cookie, csrfToken: body.csrfToken, userId: session.userId };
}

const get = (t: TestApp, url: string, headers: Record<string, string>) =>
  t.app.inject({ url: `/api/v1${url}`, headers });

describe("REQUIRE_MFA=admins", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({ env: { REQUIRE_MFA: "admins" } });
  });
  after(async () => {
    await t.close();
  });

  it("lets a member without two-factor work as usual", async () => {
    await createTestUser(t, { username: "plain_member" });
    const login = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { username: "plain_member", password: "violet-lantern-orbit-29-quartz" },
    });
    assert.equal(login.statusCode, 200);
    assert.equal(JSON.parse(login.body).mfaEnrolmentRequired, false);
    const session = await signIn(t, "plain_member");
    assert.equal((await get(t, "/vaults", asSession(session))).statusCode, 200);
    const created = await t.app.inject({
      method: "POST",
      url: "/api/v1/vaults",
      headers: asSession(session),
      payload: { slug: "member-vault" },
    });
    assert.equal(created.statusCode, 201);
  });

  it("holds an admin without two-factor to enrolment, on every other API route", async () => {
    await createTestUser(t, { username: "bare_admin", role: "admin" });
    const login = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { username: "bare_admin", password: "violet-lantern-orbit-29-quartz" },
    });
    assert.equal(login.statusCode, 200, "the password still signs in");
    assert.equal(JSON.parse(login.body).mfaEnrolmentRequired, true, "and says what comes next");
    const session = await signIn(t, "bare_admin");
    const me = await get(t, "/me", asSession(session));
    assert.equal(me.statusCode, 200, "the profile stays readable");
    assert.equal(JSON.parse(me.body).mfaEnrolmentRequired, true);

    const usersBefore = await t.database.db.selectFrom("users").select("id").execute();
    const walked: string[] = [];
    for (const route of t.app.registeredRoutes) {
      if (!route.url.startsWith("/api/")) continue;
      const key = `${route.method} ${route.url}`;
      // Signing out is tested below; here it would end the session being walked with.
      if (OPEN_DURING_ENROLMENT.has(key) || key === "POST /api/v1/auth/logout") continue;
      // Any placeholder will do: the refusal comes before parameters are even looked at.
      const url = route.url.replace(/:([A-Za-z0-9_]+)/g, "x$1x");
      const request = {
        method: route.method as "GET",
        url,
        ...(["POST", "PUT", "PATCH"].includes(route.method) ? { payload: {} } : {}),
      };
      const anonymous = await t.app.inject(request);
      if (anonymous.statusCode !== 401) {
        // Open to strangers (sign-in, registration, share links, the API description).
        assert.notEqual(
          (await t.app.inject({ ...request, headers: asSession(session) })).statusCode,
          403,
          key,
        );
        continue;
      }
      assertEnrolmentRequired(await t.app.inject({ ...request, headers: asSession(session) }), key);
      walked.push(key);
    }
    assert.ok(walked.includes("GET /api/v1/vaults/:vault/secrets/:name"), "reveal is walked");
    assert.ok(walked.includes("POST /api/v1/admin/users"), "administration is walked");
    assert.ok(walked.includes("POST /api/v1/me/tokens"), "token minting is walked");
    assert.ok(walked.length > 20, `walked ${walked.length} routes`);
    const usersAfter = await t.database.db.selectFrom("users").select("id").execute();
    assert.equal(usersAfter.length, usersBefore.length, "nothing was created meanwhile");
  });

  it("refuses the admin's API tokens, also those minted before the policy, until enrolment", async () => {
    const admin = await createTestUser(t, { username: "token_admin", role: "admin" });
    const owner = await signIn(t, "plain_member");
    const share = await t.app.inject({
      method: "PUT",
      url: "/api/v1/vaults/member-vault/members/token_admin",
      headers: asSession(owner),
      payload: { role: "viewer" },
    });
    assert.equal(share.statusCode, 201, share.body);
    const { token } = await createApiToken(t.database.db, {
      userId: admin.id,
      username: admin.username,
      name: "older than the policy",
      scopes: [{ vault: "member-vault", permission: "read" }],
      expiresInDays: 30,
      now: t.clock.now(),
      address: "127.0.0.1",
    });
    const bearer = { authorization: `Bearer ${token}` };
    assertEnrolmentRequired(await get(t, "/vaults", bearer), "token before enrolment");
    assertEnrolmentRequired(
      await get(t, "/vaults/member-vault/secrets", bearer),
      "token before enrolment",
    );

    // Enrol, and then the session and the token both work.
    const session = await signIn(t, "token_admin");
    assertEnrolmentRequired(await get(t, "/vaults", asSession(session)), "session before");
    const enrolled = await enrol(t, session);
    assert.equal((await get(t, "/vaults", asSession(enrolled))).statusCode, 200);
    const me = await get(t, "/me", asSession(enrolled));
    assert.equal(JSON.parse(me.body).mfaEnrolmentRequired, false);
    assert.equal((await get(t, "/admin/users", asSession(enrolled))).statusCode, 200);
    assert.equal((await get(t, "/vaults/member-vault/secrets", bearer)).statusCode, 200);
  });

  it("applies at once to a member promoted to admin, and lets them sign out", async () => {
    const promoted = await createTestUser(t, { username: "soon_admin" });
    const session = await signIn(t, "soon_admin");
    assert.equal((await get(t, "/vaults", asSession(session))).statusCode, 200);
    await t.database.db
      .updateTable("users")
      .set({ role: "admin" })
      .where("id", "=", promoted.id)
      .execute();
    assertEnrolmentRequired(await get(t, "/vaults", asSession(session)), "after promotion");
    const logout = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/logout",
      headers: asSession(session),
    });
    assert.equal(logout.statusCode, 204);
    assert.equal((await get(t, "/me", asSession(session))).statusCode, 401, "signed out");
  });
});

describe("REQUIRE_MFA=all", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({ env: { REQUIRE_MFA: "all" } });
  });
  after(async () => {
    await t.close();
  });

  it("holds members and auditors to enrolment too, and releases them once enrolled", async () => {
    for (const [username, role] of [
      ["all_member", "member"],
      ["all_auditor", "auditor"],
    ] as const) {
      await createTestUser(t, { username, role });
      const session = await signIn(t, username);
      assertEnrolmentRequired(await get(t, "/vaults", asSession(session)), username);
      assertEnrolmentRequired(await get(t, "/audit", asSession(session)), username);
      assertEnrolmentRequired(await get(t, "/me/sessions", asSession(session)), username);
      const patch = await t.app.inject({
        method: "PATCH",
        url: "/api/v1/me",
        headers: asSession(session),
        payload: { email: `${username}-new@example.test` },
      });
      assertEnrolmentRequired(patch, `${username} changing the e-mail address`);
      const enrolled = await enrol(t, session);
      const next = role === "auditor" ? "/audit" : "/vaults";
      assert.equal((await get(t, next, asSession(enrolled))).statusCode, 200);
    }
    const row = await t.database.db
      .selectFrom("users")
      .select("email")
      .where("username_key", "=", "all_member")
      .executeTakeFirstOrThrow();
    assert.equal(row.email, "all_member@example.test", "nothing changed before enrolment");
  });
});

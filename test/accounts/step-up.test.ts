/**
 * Step-up re-authentication (`REAUTH_MINUTES`, default 10): revealing a secret or a version,
 * minting an API token, changing vault members and the account's e-mail or two-factor need a
 * session that proved the password or a second factor lately. Sign-in counts; so does
 * `POST /api/v1/auth/reauth`, which is throttled and audited. Bearer tokens are exempt.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { generateTotpCode } from "../../src/accounts/totp.js";
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

const MINUTE = 60_000;
let t: TestApp;
let owner: SignedIn;

before(async () => {
  t = await createTestApp();
  await createTestUser(t, { username: "step_owner" });
  await createTestUser(t, { username: "step_friend" });
  owner = await signIn(t, "step_owner");
  const vault = await api(owner, "POST", "/vaults", { slug: "step-vault" });
  assert.equal(vault.statusCode, 201);
  const secret = await api(owner, "PUT", "/vaults/step-vault/secrets/DB_PASSWORD", {
    value: "hunter2-but-longer",
  });
  assert.equal(secret.statusCode, 201);
});
after(async () => {
  await t.close();
});

function api(
  session: SignedIn | null,
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
  url: string,
  payload?: unknown,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method,
    url: `/api/v1${url}`,
    headers: { ...(session === null ? {} : asSession(session)), ...headers },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

function assertReauthRequired(response: LightMyRequestResponse, what: string): void {
  assert.equal(response.statusCode, 401, `${what}: ${response.body}`);
  assert.match(String(response.headers["content-type"]), /^application\/problem\+json/, what);
  assert.match(String(JSON.parse(response.body).type), /reauth-required$/, what);
  assert.equal(sessionCookieFrom(response), null, `${what}: the session is not ended`);
}

async function auditActions(action: string): Promise<Array<{ outcome: string; details: string }>> {
  return t.database.db
    .selectFrom("audit_events")
    .select(["outcome", "details"])
    .where("action", "=", action)
    .orderBy("seq")
    .execute() as Promise<Array<{ outcome: string; details: string }>>;
}

/** The step-up actions, each as a request that succeeds with a fresh session. */
const STEP_UP_ACTIONS: Array<{
  what: string;
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  url: string;
  body?: unknown;
}> = [
  { what: "reveal", method: "GET", url: "/vaults/step-vault/secrets/DB_PASSWORD" },
  {
    what: "reveal a version",
    method: "GET",
    url: "/vaults/step-vault/secrets/DB_PASSWORD/versions/1",
  },
  {
    what: "mint a token",
    method: "POST",
    url: "/me/tokens",
    body: { name: "ci", scopes: [{ vault: "step-vault", permission: "read" }], expiresInDays: 1 },
  },
  {
    what: "add a member",
    method: "PUT",
    url: "/vaults/step-vault/members/step_friend",
    body: { role: "viewer" },
  },
  { what: "remove a member", method: "DELETE", url: "/vaults/step-vault/members/step_friend" },
  {
    what: "change the e-mail address",
    method: "PATCH",
    url: "/me",
    body: { email: "x@example.test" },
  },
  { what: "start two-factor enrolment", method: "POST", url: "/me/mfa/totp" },
  { what: "sign out everywhere else", method: "DELETE", url: "/me/sessions" },
  { what: "sign out one session", method: "DELETE", url: `/me/sessions/${"0".repeat(64)}` },
  {
    what: "confirm two-factor enrolment",
    method: "POST",
    url: "/me/mfa/totp/confirm",
    body: { code: "123456" },
  },
];

describe("step-up re-authentication", () => {
  it("lets a fresh sign-in act, and asks a session past REAUTH_MINUTES to prove itself again", async () => {
    const session = await signIn(t, "step_owner");
    assert.equal(
      (await api(session, "GET", "/vaults/step-vault/secrets/DB_PASSWORD")).statusCode,
      200,
      "sign-in counts as proof",
    );
    t.clock.advance(9 * MINUTE);
    assert.equal(
      (await api(session, "GET", "/vaults/step-vault/secrets/DB_PASSWORD")).statusCode,
      200,
      "still inside the window",
    );
    t.clock.advance(2 * MINUTE);
    const reveals = (await auditActions("secret.reveal")).length;
    for (const action of STEP_UP_ACTIONS)
      assertReauthRequired(await api(session, action.method, action.url, action.body), action.what);
    assert.equal((await auditActions("secret.reveal")).length, reveals, "nothing was revealed");
    const members = await api(session, "GET", "/vaults/step-vault/members");
    assert.deepEqual(
      (JSON.parse(members.body).members as Array<{ username: string }>).map((m) => m.username),
      ["step_owner"],
      "no member was added",
    );
    const tokens = await api(session, "GET", "/me/tokens");
    assert.deepEqual(JSON.parse(tokens.body).tokens, [], "no token was minted");

    // Everything else goes on as before: listing, writing, reading the profile.
    assert.equal((await api(session, "GET", "/vaults/step-vault/secrets")).statusCode, 200);
    assert.equal(
      (await api(session, "PUT", "/vaults/step-vault/secrets/OTHER", { value: "v" })).statusCode,
      201,
    );
    assert.equal((await api(session, "GET", "/me")).statusCode, 200);

    const proven = await api(session, "POST", "/auth/reauth", { password: GOOD_PASSWORD });
    assert.equal(proven.statusCode, 200, proven.body);
    const body = JSON.parse(proven.body) as { reauthenticatedAt: string; expiresAt: string };
    assert.equal(Date.parse(body.expiresAt) - Date.parse(body.reauthenticatedAt), 10 * MINUTE);
    for (const action of STEP_UP_ACTIONS.slice(0, 5)) {
      const response = await api(session, action.method, action.url, action.body);
      assert.ok(
        response.statusCode < 300,
        `${action.what} after re-authenticating: ${response.body}`,
      );
    }
    const events = await auditActions("session.reauth");
    assert.equal(events.at(-1)?.outcome, "success");
    assert.match(String(events.at(-1)?.details), /"factor":"password"/);

    t.clock.advance(10 * MINUTE);
    assertReauthRequired(
      await api(session, "GET", "/vaults/step-vault/secrets/DB_PASSWORD"),
      "the proof lapses again",
    );
  });

  it("asks a stale admin to prove again before creating, changing or deleting accounts", async () => {
    await createTestUser(t, { username: "step_admin", role: "admin" });
    await createTestUser(t, { username: "step_subject" });
    const session = await signIn(t, "step_admin");
    t.clock.advance(11 * MINUTE);
    const actions = [
      {
        what: "create an account",
        method: "POST",
        url: "/admin/users",
        body: { username: "step_created", email: "created@example.test", password: GOOD_PASSWORD },
      },
      {
        what: "make someone an admin",
        method: "PATCH",
        url: "/admin/users/step_subject",
        body: { role: "admin" },
      },
      {
        what: "disable an account",
        method: "PATCH",
        url: "/admin/users/step_subject",
        body: { disabled: true },
      },
      { what: "delete an account", method: "DELETE", url: "/admin/users/step_subject" },
    ] as const;
    for (const action of actions)
      assertReauthRequired(
        await api(session, action.method, action.url, "body" in action ? action.body : undefined),
        action.what,
      );
    const users = await t.database.db
      .selectFrom("users")
      .select(["username", "role", "disabled_at"])
      .where("username", "in", ["step_created", "step_subject"])
      .execute();
    assert.deepEqual(users, [{ username: "step_subject", role: "member", disabled_at: null }]);
    assert.equal((await api(session, "GET", "/admin/users")).statusCode, 200, "reading goes on");

    const proven = await api(session, "POST", "/auth/reauth", { password: GOOD_PASSWORD });
    assert.equal(proven.statusCode, 200, proven.body);
    const changed = await api(session, "PATCH", "/admin/users/step_subject", { role: "auditor" });
    assert.equal(changed.statusCode, 200, changed.body);
  });

  it("exempts bearer tokens, whose scopes and expiry are their limit", async () => {
    const session = await signIn(t, "step_owner");
    const minted = await api(session, "POST", "/me/tokens", {
      name: "exempt",
      scopes: [{ vault: "step-vault", permission: "read" }],
      expiresInDays: 1,
    });
    assert.equal(minted.statusCode, 201, minted.body);
    t.clock.advance(60 * MINUTE);
    const bearer = { authorization: `Bearer ${JSON.parse(minted.body).token}` };
    assert.equal(
      (await api(null, "GET", "/vaults/step-vault/secrets/DB_PASSWORD", undefined, bearer))
        .statusCode,
      200,
    );
    const reauth = await api(null, "POST", "/auth/reauth", { password: GOOD_PASSWORD }, bearer);
    assert.equal(reauth.statusCode, 401, "re-authentication is for browser sessions");
  });

  it("throttles wrong passwords per user, audits each, and refuses even the right one meanwhile", async () => {
    await createTestUser(t, { username: "step_guesser" });
    const session = await signIn(t, "step_guesser");
    t.clock.advance(11 * MINUTE);
    const failuresBefore = (await auditActions("session.reauth")).filter(
      (e) => e.outcome === "failure",
    ).length;
    for (let n = 0; n < 5; n++) {
      const wrong = await api(session, "POST", "/auth/reauth", { password: `wrong-guess-${n}` });
      assert.equal(wrong.statusCode, 401, wrong.body);
      assert.match(String(JSON.parse(wrong.body).type), /invalid-credentials$/);
    }
    const refused = await api(session, "POST", "/auth/reauth", { password: GOOD_PASSWORD });
    assert.equal(refused.statusCode, 429, refused.body);
    assert.match(String(refused.headers["retry-after"]), /^[1-9][0-9]*$/);
    const events = await auditActions("session.reauth");
    assert.equal(events.filter((e) => e.outcome === "failure").length - failuresBefore, 5);
    assert.ok(events.some((e) => e.outcome === "denied" && /throttled/.test(e.details)));
    assert.equal(
      (await api(session, "GET", "/me/tokens")).statusCode,
      200,
      "the session itself goes on",
    );
  });

  it("accepts a current two-factor code or a recovery code instead of the password", async () => {
    await createTestUser(t, { username: "step_totp" });
    let session = await signIn(t, "step_totp");
    const start = await api(session, "POST", "/me/mfa/totp");
    const { secret } = JSON.parse(start.body) as { secret: string };
    const confirm = await api(session, "POST", "/me/mfa/totp/confirm", {
      code: generateTotpCode(secret, t.clock.now().getTime()),
    });
    assert.equal(confirm.statusCode, 200, confirm.body);
    const { recoveryCodes, csrfToken } = JSON.parse(confirm.body) as {
      recoveryCodes: string[];
      csrfToken: string;
    };
    session = { cookie: sessionCookieFrom(confirm) ?? "", csrfToken, userId: session.userId };

    t.clock.advance(11 * MINUTE);
    assertReauthRequired(await api(session, "PATCH", "/me", { email: "t1@example.test" }), "stale");
    const wrong = await api(session, "POST", "/auth/reauth", { totp: "000000" });
    assert.equal(wrong.statusCode, 401);
    const code = generateTotpCode(secret, t.clock.now().getTime());
    assert.equal((await api(session, "POST", "/auth/reauth", { totp: code })).statusCode, 200);
    assert.equal(
      (await api(session, "PATCH", "/me", { email: "t1@example.test" })).statusCode,
      200,
    );

    t.clock.advance(11 * MINUTE);
    const recovery = await api(session, "POST", "/auth/reauth", { totp: recoveryCodes[0] });
    assert.equal(recovery.statusCode, 200, recovery.body);
    const events = await auditActions("session.reauth");
    assert.match(String(events.at(-1)?.details), /"factor":"recovery"/);
    const again = await api(session, "POST", "/auth/reauth", { totp: recoveryCodes[0] });
    assert.equal(again.statusCode, 401, "a recovery code works once");
  });

  it("refuses a body with both or neither proof, and a code from a user without two-factor", async () => {
    const session = await signIn(t, "step_owner");
    for (const body of [{}, { password: GOOD_PASSWORD, totp: "123456" }, { password: "" }])
      assert.equal((await api(session, "POST", "/auth/reauth", body)).statusCode, 400);
    assert.equal((await api(session, "POST", "/auth/reauth", { totp: "123456" })).statusCode, 401);
    assert.equal((await api(null, "POST", "/auth/reauth", { password: "x" })).statusCode, 401);
  });
});

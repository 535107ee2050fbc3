/**
 * The pages' side of enforced two-factor (`REQUIRE_MFA`) and step-up re-authentication
 * (`REAUTH_MINUTES`): a session held to enrolment is sent to the settings page from every other
 * page and can enrol there; a stale session posting a reveal, member, token, e-mail or
 * two-factor form is sent to `/reauth`, and comes back to the form once the password is right.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { generateTotpCode } from "../../src/accounts/totp.js";
import {
  asSession,
  createTestUser,
  GOOD_PASSWORD,
  sessionCookieFrom,
  signIn,
} from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

const FORM = { "content-type": "application/x-www-form-urlencoded", accept: "text/html" };
const HTML = { accept: "text/html" };
const MINUTE = 60_000;
const encode = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

describe("pages under REQUIRE_MFA=admins", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({ env: { REQUIRE_MFA: "admins" } });
  });
  after(async () => {
    await t.close();
  });

  const page = (cookie: string, url: string) => t.app.inject({ url, headers: { ...HTML, cookie } });
  const post = (cookie: string, csrf: string, url: string, fields: Record<string, string> = {}) =>
    t.app.inject({
      method: "POST",
      url,
      headers: { ...FORM, cookie },
      payload: encode({ _csrf: csrf, ...fields }),
    });

  it("sends an admin without two-factor to enrolment from every other page", async () => {
    await createTestUser(t, { username: "page_admin", role: "admin" });
    const session = await signIn(t, "page_admin");
    const settings = await page(session.cookie, "/settings");
    assert.equal(settings.statusCode, 200);
    assert.match(settings.body, /requires two-factor authentication for your account/);
    assert.match(settings.body, /action="\/settings\/mfa\/start"/);
    assert.doesNotMatch(settings.body, /action="\/settings\/tokens"/, "only enrolment is offered");
    assert.doesNotMatch(settings.body, /action="\/settings\/email"/);

    const walked: string[] = [];
    for (const route of t.app.registeredRoutes) {
      if (route.url.startsWith("/api/") || route.url.startsWith("/static/")) continue;
      if (!["GET", "POST"].includes(route.method)) continue;
      const url = route.url.replace(/:([A-Za-z0-9_]+)/g, "x$1x").replace(/\*$/, "");
      const send = (cookie: string | null) =>
        route.method === "GET"
          ? t.app.inject({ url, headers: { ...HTML, ...(cookie ? { cookie } : {}) } })
          : t.app.inject({
              method: "POST",
              url,
              headers: { ...FORM, ...(cookie ? { cookie } : {}) },
              payload: encode({ _csrf: session.csrfToken }),
            });
      // Pages that need a signed-in user send strangers to sign in; only those are walked.
      const anonymous = await send(null);
      const needsSignIn =
        anonymous.statusCode === 303 && String(anonymous.headers.location).startsWith("/login");
      if (!needsSignIn) continue;
      const key = `${route.method} ${route.url}`;
      if (
        [
          "GET /settings",
          "POST /settings/mfa/start",
          "POST /settings/mfa/confirm",
          "GET /reauth",
          "POST /reauth",
          "POST /logout", // tested below: it would end the session being walked with
        ].includes(key)
      )
        continue;
      const response = await send(session.cookie);
      assert.equal(response.statusCode, 303, `${key}: ${response.body.slice(0, 200)}`);
      assert.equal(response.headers.location, "/settings", key);
      walked.push(key);
    }
    for (const expected of ["GET /", "POST /vaults", "POST /settings/tokens", "GET /admin/users"])
      assert.ok(walked.includes(expected), `${expected} was walked: ${walked.join(", ")}`);
    const tokens = await t.database.db.selectFrom("api_tokens").select("id").execute();
    assert.deepEqual(tokens, [], "nothing was created meanwhile");
    const vaults = await t.database.db.selectFrom("vaults").select("id").execute();
    assert.deepEqual(vaults, []);
  });

  it("lets them enrol, see the recovery codes and then go on; sign-out works before", async () => {
    await createTestUser(t, { username: "page_admin2", role: "admin" });
    const early = await signIn(t, "page_admin2");
    const out = await post(early.cookie, early.csrfToken, "/logout");
    assert.equal(out.statusCode, 303);
    assert.equal(out.headers.location, "/login");
    assert.equal(
      (await page(early.cookie, "/settings")).headers.location,
      "/login?next=%2Fsettings",
    );

    const session = await signIn(t, "page_admin2");
    const start = await post(session.cookie, session.csrfToken, "/settings/mfa/start");
    assert.equal(start.statusCode, 200, start.body);
    const secret = /<code[^>]*>([A-Z2-7 ]{16,})<\/code>/.exec(start.body)?.[1]?.replace(/ /g, "");
    assert.ok(secret, "the key is shown as text");
    const confirm = await post(session.cookie, session.csrfToken, "/settings/mfa/confirm", {
      code: generateTotpCode(secret, t.clock.now().getTime()),
    });
    assert.equal(confirm.statusCode, 200, confirm.body);
    assert.match(confirm.body, /recovery/i);
    const cookie = sessionCookieFrom(confirm);
    assert.ok(cookie);
    const home = await page(cookie, "/");
    assert.equal(home.statusCode, 200, "the new session goes anywhere");
    assert.equal((await page(cookie, "/admin/users")).statusCode, 200);
    const settings = await page(cookie, "/settings");
    assert.match(settings.body, /action="\/settings\/email"/, "the whole settings page again");
  });

  it("leaves members without two-factor alone", async () => {
    await createTestUser(t, { username: "page_member" });
    const session = await signIn(t, "page_member");
    assert.equal((await page(session.cookie, "/")).statusCode, 200);
  });
});

describe("step-up on pages", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp();
  });
  after(async () => {
    await t.close();
  });

  it("sends a stale reveal to /reauth and back to the secret, where Reveal then works", async () => {
    await createTestUser(t, { username: "page_stepper" });
    await createTestUser(t, { username: "page_friend" });
    const session = await signIn(t, "page_stepper");
    const api = (method: "POST" | "PUT", url: string, payload: Record<string, unknown>) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: asSession(session), payload });
    assert.equal((await api("POST", "/vaults", { slug: "stepped" })).statusCode, 201);
    assert.equal(
      (await api("PUT", "/vaults/stepped/secrets/TOKEN", { value: "stepped-value-42" })).statusCode,
      201,
    );
    const form = (url: string, fields: Record<string, string> = {}) =>
      t.app.inject({
        method: "POST",
        url,
        headers: { ...FORM, cookie: session.cookie },
        payload: encode({ _csrf: session.csrfToken, ...fields }),
      });
    const fresh = await form("/vaults/stepped/secrets/TOKEN/reveal");
    assert.equal(fresh.statusCode, 200);
    assert.match(fresh.body, /stepped-value-42/);

    t.clock.advance(11 * MINUTE);
    const reveals = await t.database.db
      .selectFrom("audit_events")
      .select("seq")
      .where("action", "=", "secret.reveal")
      .execute();
    const stale = await form("/vaults/stepped/secrets/TOKEN/reveal");
    assert.equal(stale.statusCode, 303);
    assert.equal(stale.headers.location, "/reauth?next=%2Fvaults%2Fstepped%2Fsecrets%2FTOKEN");
    assert.doesNotMatch(stale.body, /stepped-value-42/);
    for (const [url, fields, back] of [
      ["/vaults/stepped/members", { username: "page_friend", role: "viewer" }, "/vaults/stepped"],
      ["/vaults/stepped/members/page_stepper/remove", {}, "/vaults/stepped"],
      [
        "/settings/tokens",
        { name: "t", vault: "stepped", permission: "read", expiresInDays: "7" },
        "/settings",
      ],
      ["/settings/email", { email: "changed@example.test" }, "/settings"],
      ["/settings/mfa/start", {}, "/settings"],
      ["/settings/sessions/revoke-others", {}, "/settings"],
    ] as const) {
      const response = await form(url, fields);
      assert.equal(response.statusCode, 303, url);
      assert.equal(response.headers.location, `/reauth?next=${encodeURIComponent(back)}`, url);
    }
    const after = await t.database.db
      .selectFrom("audit_events")
      .select("seq")
      .where("action", "=", "secret.reveal")
      .execute();
    assert.equal(after.length, reveals.length, "nothing was revealed");
    assert.deepEqual(await t.database.db.selectFrom("api_tokens").select("id").execute(), []);

    const reauthPage = await t.app.inject({
      url: "/reauth?next=%2Fvaults%2Fstepped%2Fsecrets%2FTOKEN",
      headers: { ...HTML, cookie: session.cookie },
    });
    assert.equal(reauthPage.statusCode, 200);
    assert.match(reauthPage.body, /<label for="field-password">/);
    const wrong = await form("/reauth?next=%2Fvaults%2Fstepped%2Fsecrets%2FTOKEN", {
      password: "not-the-password-at-all",
    });
    assert.equal(wrong.statusCode, 401);
    assert.match(wrong.body, /not right/);
    assert.doesNotMatch(wrong.body, /not-the-password-at-all/, "the password is never echoed");
    const right = await form("/reauth?next=%2Fvaults%2Fstepped%2Fsecrets%2FTOKEN", {
      password: GOOD_PASSWORD,
    });
    assert.equal(right.statusCode, 303);
    assert.equal(right.headers.location, "/vaults/stepped/secrets/TOKEN");
    const again = await form("/vaults/stepped/secrets/TOKEN/reveal");
    assert.equal(again.statusCode, 200);
    assert.match(again.body, /stepped-value-42/);
  });

  it("asks a stale admin to prove again before creating, changing or deleting accounts, or ending sessions", async () => {
    await createTestUser(t, { username: "page_admin", role: "admin" });
    await createTestUser(t, { username: "page_member" });
    const session = await signIn(t, "page_admin");
    const memberSession = await signIn(t, "page_member");
    t.clock.advance(11 * MINUTE);
    const form = (url: string, fields: Record<string, string> = {}) =>
      t.app.inject({
        method: "POST",
        url,
        headers: { ...FORM, cookie: session.cookie },
        payload: encode({ _csrf: session.csrfToken, ...fields }),
      });
    for (const [url, fields] of [
      [
        "/admin/users",
        { username: "page_new", email: "new@example.test", password: GOOD_PASSWORD },
      ],
      ["/admin/users/page_member/role", { role: "admin" }],
      ["/admin/users/page_member/disabled", { disabled: "true" }],
      ["/admin/users/page_member/delete", {}],
      ["/admin/users/page_member/sessions-end", {}],
      ["/admin/sessions/end-all", {}],
    ] as const) {
      const response = await form(url, fields);
      assert.equal(response.statusCode, 303, url);
      assert.equal(response.headers.location, "/reauth?next=%2Fadmin%2Fusers", url);
    }
    const users = await t.database.db
      .selectFrom("users")
      .select(["username", "role", "disabled_at"])
      .where("username", "in", ["page_new", "page_member"])
      .execute();
    assert.deepEqual(users, [{ username: "page_member", role: "member", disabled_at: null }]);
    const memberPage = await t.app.inject({
      url: "/settings",
      headers: { ...HTML, cookie: memberSession.cookie },
    });
    assert.equal(memberPage.statusCode, 200, "no session was ended");

    const list = await t.app.inject({
      url: "/admin/users",
      headers: { ...HTML, cookie: session.cookie },
    });
    assert.equal(list.statusCode, 200, "reading the list needs no fresh proof");
    const proven = await form("/reauth?next=%2Fadmin%2Fusers", { password: GOOD_PASSWORD });
    assert.equal(proven.headers.location, "/admin/users");
    const promoted = await form("/admin/users/page_member/role", { role: "auditor" });
    assert.equal(promoted.statusCode, 303);
    assert.equal(promoted.headers.location, "/admin/users");
  });

  it("goes back only to a same-site path", async () => {
    await createTestUser(t, { username: "page_next" });
    const session = await signIn(t, "page_next");
    for (const next of ["//evil.example/x", "https://evil.example/", "/\\evil.example"]) {
      const response = await t.app.inject({
        method: "POST",
        url: `/reauth?next=${encodeURIComponent(next)}`,
        headers: { ...FORM, cookie: session.cookie },
        payload: encode({ _csrf: session.csrfToken, password: GOOD_PASSWORD }),
      });
      assert.equal(response.statusCode, 303, next);
      assert.equal(response.headers.location, "/", next);
    }
    const anonymous = await t.app.inject({ url: "/reauth?next=%2Fsettings", headers: HTML });
    assert.equal(anonymous.statusCode, 303);
    assert.equal(anonymous.headers.location, "/login?next=%2Fsettings");
  });
});

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { listUserSessions } from "../../src/accounts/sessions.repository.js";
import { generateTotpCode } from "../../src/accounts/totp.js";
import { findUserById } from "../../src/accounts/users.repository.js";
import type { MailMessage } from "../../src/mail/mailer.js";
import type { SignedIn } from "../helpers/accounts.js";
import {
  asSession,
  createTestUser,
  GOOD_PASSWORD,
  sessionCookieFrom,
} from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
/** Mail sent by the settings pages' context (the e-mail change notice). */
let mail: MailMessage[] = [];
/** Every page the tests received, for the checks that must hold on all of them. */
const pages: Array<{ label: string; html: string }> = [];
/** Every password any test typed, right or wrong: none may ever appear on a page. */
const typedPasswords = new Set<string>([GOOD_PASSWORD]);

before(async () => {
  // app.ts wires the settings pages; the test app captures mail in `t.mail`.
  t = await createTestApp();
  mail = t.mail;
});
after(async () => {
  await t.close();
});

const FORM = { "content-type": "application/x-www-form-urlencoded", accept: "text/html" };
const encode = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
const csrfFrom = (html: string): string => {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  assert.ok(match?.[1], "a CSRF field in the form");
  return match[1];
};
const record = (label: string, response: LightMyRequestResponse): LightMyRequestResponse => {
  if (String(response.headers["content-type"]).startsWith("text/html"))
    pages.push({ label, html: response.body });
  return response;
};

/** Signs in through the API (optionally from a named browser) and returns cookie and token. */
async function signInAs(
  username: string,
  options: { password?: string; totp?: string; userAgent?: string } = {},
): Promise<SignedIn> {
  const response = await t.app.inject({
    method: "POST",
    url: "/api/v1/auth/login",
    headers: options.userAgent !== undefined ? { "user-agent": options.userAgent } : {},
    payload: {
      username,
      password: options.password ?? GOOD_PASSWORD,
      ...(options.totp !== undefined ? { totp: options.totp } : {}),
    },
  });
  assert.equal(response.statusCode, 200, response.body);
  const body = JSON.parse(response.body) as { user: { id: string }; csrfToken: string };
  const cookie = sessionCookieFrom(response);
  assert.ok(cookie);
  return { cookie, csrfToken: body.csrfToken, userId: body.user.id };
}

async function settingsPage(session: { cookie: string }): Promise<LightMyRequestResponse> {
  const response = record(
    "GET /settings",
    await t.app.inject({
      url: "/settings",
      headers: { cookie: session.cookie, accept: "text/html" },
    }),
  );
  assert.equal(response.statusCode, 200, response.body);
  return response;
}

/** Posts a settings form as the browser does; `csrf: false` leaves the token out. */
async function post(
  session: SignedIn,
  path: string,
  fields: Record<string, string> = {},
  options: { csrf?: boolean } = {},
): Promise<LightMyRequestResponse> {
  const payload = options.csrf === false ? fields : { _csrf: session.csrfToken, ...fields };
  return record(
    `POST ${path}`,
    await t.app.inject({
      method: "POST",
      url: path,
      headers: { ...FORM, cookie: session.cookie },
      payload: encode(payload),
    }),
  );
}

/** Whether a session cookie still signs someone in. */
async function isAlive(session: { cookie: string }): Promise<boolean> {
  const response = await t.app.inject({ url: "/api/v1/me", headers: { cookie: session.cookie } });
  return response.statusCode === 200;
}

/** The flash message a redirect carries, as the next page shows it. */
async function flashAfter(
  response: LightMyRequestResponse,
  session: { cookie: string },
): Promise<string> {
  assert.equal(response.statusCode, 303, response.body);
  assert.equal(response.headers.location, "/settings");
  const flash = response.cookies.find((c) => c.name === "strongroom_flash");
  assert.ok(flash, "a flash message is set");
  const page = await settingsPage({ cookie: `${session.cookie}; strongroom_flash=${flash.value}` });
  const match = /<p class="flash success" role="status" aria-live="polite">([^<]*)<\/p>/.exec(
    page.body,
  );
  assert.ok(match?.[1], "the flash message is shown");
  return match[1];
}

/** The error shown beside a field, checked to be tied to it for screen readers. */
function fieldError(html: string, name: string): string {
  const input = new RegExp(`<(?:input|select|textarea)[^>]*id="field-${name}"[^>]*>`).exec(html);
  assert.ok(input, `a control for ${name}`);
  assert.match(input[0], /aria-invalid="true"/);
  assert.match(input[0], new RegExp(`aria-describedby="field-${name}-error"`));
  const error = new RegExp(`<p class="field-error" id="field-${name}-error"[^>]*>([^<]*)</p>`).exec(
    html,
  );
  assert.ok(error?.[1], `an error for ${name}`);
  return error[1];
}

async function createVault(session: SignedIn, slug: string): Promise<void> {
  const response = await t.app.inject({
    method: "POST",
    url: "/api/v1/vaults",
    headers: asSession(session),
    payload: { slug },
  });
  assert.equal(response.statusCode, 201, response.body);
}

describe("settings pages", () => {
  it("send a signed-out visitor to sign in and back to the settings, from every action", async () => {
    const page = await t.app.inject({ url: "/settings", headers: { accept: "text/html" } });
    assert.equal(page.statusCode, 303);
    assert.equal(page.headers.location, "/login?next=%2Fsettings");
    for (const path of [
      "/settings/email",
      "/settings/password",
      "/settings/mfa/start",
      "/settings/sessions/revoke-others",
      "/settings/tokens",
    ]) {
      const response = await t.app.inject({
        method: "POST",
        url: path,
        headers: FORM,
        payload: encode({ email: "nobody@example.test", name: "x" }),
      });
      assert.equal(response.statusCode, 303, path);
      assert.equal(response.headers.location, "/login?next=%2Fsettings", path);
    }
  });

  it("show the profile, every section, and no inline script, style or handler", async () => {
    await createTestUser(t, { username: "set_profile", email: "profile@example.test" });
    const session = await signInAs("set_profile");
    const { body, headers } = await settingsPage(session);
    assert.equal(headers["cache-control"], "no-store");
    assert.match(body, /<h1>Settings<\/h1>/);
    for (const heading of ["Profile", "Password", "Two-factor authentication", "Sessions"])
      assert.match(body, new RegExp(`<h2 id="[a-z]+-heading">${heading}</h2>`));
    assert.match(body, /<h2 id="tokens-heading">API tokens<\/h2>/);
    assert.match(body, /<dd>set_profile<\/dd>/);
    assert.match(body, /<dd>profile@example\.test<\/dd>/);
    assert.match(body, /<dd>member<\/dd>/);
    assert.match(body, /Last sign-in<\/dt><dd><time datetime="[^"]+">[^<]+ UTC<\/time> from /);
    assert.match(body, /0 before your last sign-in, 0 since/);
    assert.match(body, /Off\./);
    assert.match(body, /action="\/settings\/mfa\/start"/);
    assert.match(body, /\(this device\)/);
    assert.equal(csrfFrom(body), session.csrfToken);
    assert.match(body, /<label for="field-currentPassword">/);
    assert.match(body, /<label for="field-newPassword">/);
    assert.match(body, /You have no API tokens\./);
    assert.match(body, /Create a vault<\/a> first/);
  });

  it("change the e-mail address, telling the old one; refuse bad, taken or forged changes", async () => {
    await createTestUser(t, { username: "set_email", email: "old@example.test" });
    await createTestUser(t, { username: "set_taken", email: "taken@example.test" });
    const session = await signInAs("set_email");
    const current = async () => (await findUserById(t.database.db, session.userId))?.email;

    const forged = await post(
      session,
      "/settings/email",
      { email: "new@example.test" },
      { csrf: false },
    );
    assert.equal(forged.statusCode, 403);
    assert.equal(await current(), "old@example.test");

    const invalid = await post(session, "/settings/email", { email: "not-an-address<b>" });
    assert.equal(invalid.statusCode, 400);
    assert.equal(fieldError(invalid.body, "email"), "must be an e-mail address");
    assert.match(invalid.body, /value="not-an-address&lt;b>"/, "the input is kept, escaped");
    assert.equal(await current(), "old@example.test");

    const taken = await post(session, "/settings/email", { email: "Taken@example.test" });
    assert.equal(taken.statusCode, 409);
    assert.equal(fieldError(taken.body, "email"), "That e-mail address cannot be used.");
    assert.match(taken.body, /value="Taken@example\.test"/);
    assert.equal(await current(), "old@example.test");

    const changed = await post(session, "/settings/email", { email: "new@example.test" });
    assert.equal(
      await flashAfter(changed, session),
      "E-mail address changed. We told your previous address.",
    );
    assert.equal(await current(), "new@example.test");
    await new Promise((resolve) => setImmediate(resolve));
    const notice = mail.find((m) => m.to === "old@example.test");
    assert.ok(notice, "the old address is told");
    assert.match(notice.text, /new@example\.test/);
  });

  it("throttle e-mail changes per user", async () => {
    await createTestUser(t, { username: "set_email_limit" });
    const session = await signInAs("set_email_limit");
    for (let i = 0; i < 5; i++) {
      const response = await post(session, "/settings/email", { email: `limit${i}@example.test` });
      assert.equal(response.statusCode, 303);
    }
    const refused = await post(session, "/settings/email", { email: "limit9@example.test" });
    assert.equal(refused.statusCode, 429);
    assert.ok(Number(refused.headers["retry-after"]) > 0);
    assert.equal(fieldError(refused.body, "email"), "Too many attempts. Try again later.");
    assert.equal((await findUserById(t.database.db, session.userId))?.email, "limit4@example.test");
  });

  it("change the password: new cookie, other sessions ended; refusals keep no password", async () => {
    await createTestUser(t, { username: "set_password" });
    const session = await signInAs("set_password");
    const other = await signInAs("set_password", { userAgent: "Other browser" });
    const next = "plum-harbour-lantern-58-velvet";
    typedPasswords.add(next);

    const forged = await post(
      session,
      "/settings/password",
      { currentPassword: GOOD_PASSWORD, newPassword: next },
      { csrf: false },
    );
    assert.equal(forged.statusCode, 403);

    const wrong = "wrong-current-password-77";
    typedPasswords.add(wrong);
    const refused = await post(session, "/settings/password", {
      currentPassword: wrong,
      newPassword: next,
    });
    assert.equal(refused.statusCode, 401);
    assert.equal(fieldError(refused.body, "currentPassword"), "The current password is wrong.");
    assert.ok(!refused.body.includes(wrong) && !refused.body.includes(next));

    const weak = "password";
    const tooWeak = await post(session, "/settings/password", {
      currentPassword: GOOD_PASSWORD,
      newPassword: weak,
    });
    assert.equal(tooWeak.statusCode, 400);
    assert.match(fieldError(tooWeak.body, "newPassword"), /at least 15 characters/);
    assert.doesNotMatch(tooWeak.body, /value="password"/);

    const empty = await post(session, "/settings/password", {
      currentPassword: "",
      newPassword: "",
    });
    assert.equal(empty.statusCode, 400);
    assert.equal(fieldError(empty.body, "currentPassword"), "is required");

    assert.ok(await isAlive(session), "refusals end no session");
    assert.ok(await isAlive(other));
    assert.equal(
      (
        await t.app.inject({
          method: "POST",
          url: "/api/v1/auth/login",
          payload: { username: "set_password", password: next },
        })
      ).statusCode,
      401,
      "the password is unchanged",
    );

    const changed = await post(session, "/settings/password", {
      currentPassword: GOOD_PASSWORD,
      newPassword: next,
    });
    const cookie = sessionCookieFrom(changed);
    assert.ok(cookie, "a new session cookie");
    assert.notEqual(cookie, session.cookie);
    assert.equal(await flashAfter(changed, { cookie }), "Password changed; other sessions ended.");
    assert.ok(!(await isAlive(session)), "the old session ended");
    assert.ok(!(await isAlive(other)), "the other session ended");
    assert.ok(await isAlive({ cookie }));
    await signInAs("set_password", { password: next });
  });

  it("enrol TOTP: QR and key once, wrong code refused, recovery codes once; then remove it", async () => {
    await createTestUser(t, { username: "set_totp" });
    const session = await signInAs("set_totp");
    const enabled = async () =>
      (await findUserById(t.database.db, session.userId))?.totp_enabled_at !== null;

    assert.equal((await post(session, "/settings/mfa/start", {}, { csrf: false })).statusCode, 403);
    const early = await post(session, "/settings/mfa/confirm", { code: "123456" });
    assert.equal(early.statusCode, 303, "confirming before starting goes back to the settings");
    assert.ok(early.cookies.some((c) => c.name === "strongroom_flash"));
    assert.ok(!(await enabled()));

    const start = await post(session, "/settings/mfa/start");
    assert.equal(start.statusCode, 200);
    assert.equal(start.headers["cache-control"], "no-store");
    assert.match(start.body, /<img src="data:image\/svg\+xml;base64,[A-Za-z0-9+/=]+" alt="[^"]+"/);
    const secret = /<code id="totp-secret">([A-Z2-7]+)<\/code>/.exec(start.body)?.[1];
    assert.ok(secret, "the key as text");
    assert.match(start.body, /action="\/settings\/mfa\/confirm"/);

    const wrongCode = generateTotpCode(secret, t.clock.now().getTime() + 10 * 60_000);
    const refused = await post(session, "/settings/mfa/confirm", { code: wrongCode });
    assert.equal(refused.statusCode, 401);
    assert.match(fieldError(refused.body, "code"), /not right/);
    assert.ok(!refused.body.includes(secret), "the key is not shown again");
    assert.ok(!(await enabled()));

    const forged = await post(
      session,
      "/settings/mfa/confirm",
      { code: generateTotpCode(secret, t.clock.now().getTime()) },
      { csrf: false },
    );
    assert.equal(forged.statusCode, 403);
    assert.ok(!(await enabled()));

    const enrolmentDone = pages.length;
    const confirmed = await post(session, "/settings/mfa/confirm", {
      code: generateTotpCode(secret, t.clock.now().getTime()),
    });
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    assert.equal(confirmed.headers["cache-control"], "no-store");
    const codes = confirmed.body.match(/\b[0-9a-z]{4}(?:-[0-9a-z]{4}){5}\b/g) ?? [];
    assert.equal(new Set(codes).size, 10, "ten recovery codes");
    assert.ok(!confirmed.body.includes(secret), "no key once enrolment is done");
    assert.ok(await enabled());
    const cookie = sessionCookieFrom(confirmed);
    assert.ok(cookie, "the session is replaced");
    assert.ok(!(await isAlive(session)), "the old session is gone");
    const renewed: SignedIn = {
      cookie,
      csrfToken: csrfFrom(confirmed.body),
      userId: session.userId,
    };

    const after = await settingsPage(renewed);
    assert.equal(csrfFrom(after.body), renewed.csrfToken, "the page's token is the new session's");
    assert.match(after.body, /On: signing in asks for a code/);
    for (const code of codes) assert.ok(!after.body.includes(code), "recovery codes shown once");
    assert.ok(!after.body.includes(secret));
    const again = await post(renewed, "/settings/mfa/start");
    assert.equal(again.statusCode, 303, "no new key while two-factor is on");
    assert.ok(!again.body.includes("totp-secret"));
    const [firstCode] = codes;
    assert.ok(firstCode);
    await signInAs("set_totp", { totp: firstCode });

    const badPassword = "not-my-password-at-all";
    typedPasswords.add(badPassword);
    const wrong = await post(renewed, "/settings/mfa/remove", { password: badPassword });
    assert.equal(wrong.statusCode, 401);
    assert.equal(fieldError(wrong.body, "password"), "The password is wrong.");
    assert.ok(!wrong.body.includes(badPassword));
    assert.ok(await enabled());
    assert.equal(
      (await post(renewed, "/settings/mfa/remove", { password: GOOD_PASSWORD }, { csrf: false }))
        .statusCode,
      403,
    );
    assert.ok(await enabled());

    const removed = await post(renewed, "/settings/mfa/remove", { password: GOOD_PASSWORD });
    assert.equal(await flashAfter(removed, renewed), "Two-factor authentication removed.");
    assert.ok(!(await enabled()));
    for (const page of pages.slice(enrolmentDone))
      assert.ok(!page.html.includes(secret), `${page.label}: no key once enrolment is done`);
  });

  it("list sessions with escaped user agents; revoke one, refuse others', end all but this one", async () => {
    await createTestUser(t, { username: "set_sessions" });
    await createTestUser(t, { username: "set_stranger" });
    const session = await signInAs("set_sessions", { userAgent: "Main browser" });
    const agent = `<script>alert("ua")</script><img src=x onerror=alert(1)>`;
    const laptop = await signInAs("set_sessions", { userAgent: agent });
    const stranger = await signInAs("set_stranger");
    const [strangerSession] = await listUserSessions(
      t.database.db,
      stranger.userId,
      t.clock.now().toISOString(),
    );
    assert.ok(strangerSession);

    const { body } = await settingsPage(session);
    assert.ok(!body.includes("<script>alert"), "the user agent is not markup");
    assert.ok(!body.includes("<img src=x"));
    assert.match(
      body,
      /&lt;script>alert\(&quot;ua&quot;\)&lt;\/script>&lt;img src=x onerror=alert\(1\)>/,
    );
    assert.match(body, /Main browser<strong> \(this device\)<\/strong>/);
    const ids = [...body.matchAll(/name="id" value="([0-9a-f]{64})"/g)].map((m) => m[1]);
    assert.equal(ids.length, 1, "a revoke button for the other session only");
    const laptopId = ids[0] ?? "";

    const forged = await post(
      session,
      "/settings/sessions/revoke",
      { id: laptopId },
      { csrf: false },
    );
    assert.equal(forged.statusCode, 403);
    assert.ok(await isAlive(laptop));

    const foreign = await post(session, "/settings/sessions/revoke", { id: strangerSession.id });
    assert.equal(foreign.statusCode, 404);
    assert.match(foreign.body, /role="alert">There is no such session\./);
    assert.ok(await isAlive(stranger), "another user's session is untouched");

    const malformed = await post(session, "/settings/sessions/revoke", { id: "../../etc" });
    assert.equal(malformed.statusCode, 404);

    const own = await post(session, "/settings/sessions/revoke", {
      id:
        (await listUserSessions(t.database.db, session.userId, t.clock.now().toISOString()))
          .map((s) => s.id)
          .find((id) => id !== laptopId) ?? "",
    });
    assert.equal(own.statusCode, 400);
    assert.ok(await isAlive(session));

    const revoked = await post(session, "/settings/sessions/revoke", { id: laptopId });
    assert.equal(await flashAfter(revoked, session), "That session is signed out.");
    assert.ok(!(await isAlive(laptop)));
    assert.ok(await isAlive(session));

    const phone = await signInAs("set_sessions", { userAgent: "Phone" });
    const tablet = await signInAs("set_sessions", { userAgent: "Tablet" });
    assert.match((await settingsPage(session)).body, /Sign out everywhere else/);
    assert.equal(
      (await post(session, "/settings/sessions/revoke-others", {}, { csrf: false })).statusCode,
      403,
    );
    assert.ok(await isAlive(phone));
    const ended = await post(session, "/settings/sessions/revoke-others");
    assert.equal(await flashAfter(ended, session), "Signed out everywhere else (2 sessions).");
    assert.ok(!(await isAlive(phone)) && !(await isAlive(tablet)));
    assert.ok(await isAlive(session));
    assert.ok(await isAlive(stranger), "other users' sessions are untouched");
    assert.doesNotMatch((await settingsPage(session)).body, /Sign out everywhere else/);
  });

  it("create an API token shown once, escape its name, refuse others' vaults; revoke it", async () => {
    await createTestUser(t, { username: "set_tokens" });
    await createTestUser(t, { username: "set_outsider" });
    const session = await signInAs("set_tokens");
    const outsider = await signInAs("set_outsider");
    await createVault(session, "token-vault");
    await createVault(outsider, "outsider-vault");
    const tokenCount = async () =>
      (
        await t.database.db
          .selectFrom("api_tokens")
          .select("id")
          .where("user_id", "=", session.userId)
          .execute()
      ).length;

    const page = await settingsPage(session);
    assert.match(page.body, /<option value="token-vault"/);
    assert.ok(!page.body.includes("outsider-vault"), "only the user's own vaults are offered");

    const name = "<img src=x onerror=alert(1)>";
    const fields = { name, vault: "token-vault", permission: "read", expiresInDays: "30" };
    assert.equal(
      (await post(session, "/settings/tokens", fields, { csrf: false })).statusCode,
      403,
    );
    assert.equal(await tokenCount(), 0);

    const foreign = await post(session, "/settings/tokens", { ...fields, vault: "outsider-vault" });
    assert.equal(foreign.statusCode, 400);
    assert.equal(fieldError(foreign.body, "vault"), "no such vault");
    assert.match(foreign.body, /id="field-name"[^>]*value="&lt;img src=x onerror=alert\(1\)>"/);
    assert.equal(await tokenCount(), 0);

    for (const expiresInDays of ["0", "366", "ten", "1.5", ""]) {
      const refused = await post(session, "/settings/tokens", { ...fields, expiresInDays });
      assert.equal(refused.statusCode, 400, expiresInDays);
      assert.equal(fieldError(refused.body, "expiresInDays"), "must be a whole number, 1–365");
    }
    const unnamed = await post(session, "/settings/tokens", { ...fields, name: "  " });
    assert.equal(unnamed.statusCode, 400);
    assert.equal(fieldError(unnamed.body, "name"), "is required");
    const badPermission = await post(session, "/settings/tokens", {
      ...fields,
      permission: "admin",
    });
    assert.equal(badPermission.statusCode, 400);
    assert.ok(fieldError(badPermission.body, "permission"));
    assert.equal(await tokenCount(), 0);

    const created = await post(session, "/settings/tokens", fields);
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.headers["cache-control"], "no-store");
    const token = /<pre class="secret-value" id="new-token">(sr_[A-Za-z0-9_-]{43})<\/pre>/.exec(
      created.body,
    )?.[1];
    assert.ok(token, "the token is shown");
    assert.equal(created.body.split(token).length - 1, 1, "exactly once on the page");
    assert.ok(!created.body.includes("<img src=x"), "the name is not markup");
    assert.match(created.body, /<td>&lt;img src=x onerror=alert\(1\)><\/td>/);
    assert.match(created.body, /<td>token-vault: read<\/td>/);
    assert.equal(await tokenCount(), 1);
    const bearer = { authorization: `Bearer ${token}` };
    assert.equal((await t.app.inject({ url: "/api/v1/vaults", headers: bearer })).statusCode, 200);

    const later = await settingsPage(session);
    assert.ok(!later.body.includes(token), "never shown again");
    assert.doesNotMatch(later.body, /sr_[A-Za-z0-9_-]{43}/);
    assert.match(later.body, /<td>&lt;img src=x onerror=alert\(1\)><\/td>/);
    const tokenId =
      /action="\/settings\/tokens\/revoke"[\s\S]*?name="id" value="([0-9a-f-]{36})"/.exec(
        later.body,
      )?.[1];
    assert.ok(tokenId);

    const theirs = await post(outsider, "/settings/tokens", {
      name: "outsider token",
      vault: "outsider-vault",
      permission: "write",
      expiresInDays: "7",
    });
    assert.equal(theirs.statusCode, 201);
    const theirToken = /id="new-token">(sr_[^<]+)</.exec(theirs.body)?.[1] ?? "";
    const theirId =
      /name="id" value="([0-9a-f-]{36})"/.exec((await settingsPage(outsider)).body)?.[1] ?? "";
    const foreignRevoke = await post(session, "/settings/tokens/revoke", { id: theirId });
    assert.equal(foreignRevoke.statusCode, 404);
    assert.match(foreignRevoke.body, /role="alert">There is no such API token\./);
    assert.equal(
      (
        await t.app.inject({
          url: "/api/v1/vaults",
          headers: { authorization: `Bearer ${theirToken}` },
        })
      ).statusCode,
      200,
      "another user's token still works",
    );

    assert.equal(
      (await post(session, "/settings/tokens/revoke", { id: tokenId }, { csrf: false })).statusCode,
      403,
    );
    assert.equal((await t.app.inject({ url: "/api/v1/vaults", headers: bearer })).statusCode, 200);

    const revoked = await post(session, "/settings/tokens/revoke", { id: tokenId });
    assert.equal(await flashAfter(revoked, session), "API token revoked.");
    assert.equal((await t.app.inject({ url: "/api/v1/vaults", headers: bearer })).statusCode, 401);
    assert.match((await settingsPage(session)).body, /<td>revoked<\/td>/);
  });

  it("offer auditors no API tokens, and refuse their token forms", async () => {
    await createTestUser(t, { username: "set_auditor", role: "auditor" });
    const session = await signInAs("set_auditor");
    const { body } = await settingsPage(session);
    assert.ok(!body.includes("API tokens"));
    const refused = await post(session, "/settings/tokens", {
      name: "audit",
      vault: "token-vault",
      permission: "read",
      expiresInDays: "1",
    });
    assert.equal(refused.statusCode, 403);
  });

  it("never put a password on a page, nor inline script, style, handlers or javascript: URLs", () => {
    assert.ok(pages.length > 30, `${pages.length} pages checked`);
    const tag = /<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s"'>/=]+(?:="[^"]*")?)*)\s*\/?>/g;
    const attribute = /\s([^\s"'>/=]+)(?:="([^"]*)")?/g;
    for (const { label, html } of pages) {
      for (const password of typedPasswords) assert.ok(!html.includes(password), label);
      // Every tag must be understood by the pattern, or the checks below would skip it.
      assert.equal(
        [...html.matchAll(tag)].length,
        [...html.matchAll(/<[a-zA-Z]/g)].length,
        `${label}: every tag parsed`,
      );
      for (const [, name, attributes = ""] of html.matchAll(tag)) {
        if (name?.toLowerCase() === "style") assert.fail(`${label}: a <style> element`);
        const found = new Map(
          [...attributes.matchAll(attribute)].map((m) => [m[1]?.toLowerCase(), m[2] ?? ""]),
        );
        if (name?.toLowerCase() === "script")
          assert.match(
            found.get("src") ?? "",
            /^\/static\/(app|passkeys)\.js\?v=[0-9a-f]{16}$/,
            `${label}: only the same-origin scripts`,
          );
        for (const [key, value] of found) {
          assert.ok(key !== "style" && !key?.startsWith("on"), `${label}: attribute ${key}`);
          assert.ok(!/^\s*javascript:/i.test(value), `${label}: ${key}="${value}"`);
        }
      }
    }
  });
});

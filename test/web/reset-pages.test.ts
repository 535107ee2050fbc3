import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { createTestUser, GOOD_PASSWORD, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

const NEW_PASSWORD = "amber-harbor-velvet-41-kestrel";

let t: TestApp;

before(async () => {
  // app.ts wires these pages; the test app captures mail in `t.mail`.
  t = await createTestApp();
  await createTestUser(t, { username: "reset_user", email: "reset_user@example.test" });
  await createTestUser(t, { username: "expiry_user", email: "expiry_user@example.test" });
  await createTestUser(t, { username: "csrf_reset", email: "csrf_reset@example.test" });
  await createTestUser(t, { username: "legacy_reset", email: "legacy_reset@example.test" });
});
after(async () => {
  await t.close();
});

const FORM = { "content-type": "application/x-www-form-urlencoded", accept: "text/html" };
const encode = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

/** Each test posts from its own address, so the per-address reset throttle stays its own. */
function post(
  url: string,
  fields: Record<string, string>,
  address: string,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: "POST",
    url,
    remoteAddress: address,
    headers: { ...FORM, ...headers },
    payload: encode(fields),
  });
}

function page(url: string): Promise<LightMyRequestResponse> {
  return t.app.inject({ url, headers: { accept: "text/html" } });
}

/** The reset services mail after answering: let that run, then read the last mail to `to`. */
async function resetTokenMailedTo(to: string): Promise<string> {
  await new Promise((resolve) => setImmediate(resolve));
  const mail = t.mail.filter((m) => m.to === to).at(-1);
  assert.ok(mail, `a mail to ${to}`);
  // The token rides in the fragment, which browsers never send (ASVS 14.2.1), and as a code.
  const match = /\/reset-password#token=([A-Za-z0-9_-]+)\n/.exec(mail.text);
  assert.ok(match?.[1], "a reset link in the mail");
  assert.ok(!mail.text.includes("?token="), "no token in a query string");
  assert.ok(
    mail.text.includes(`code, it is: ${match[1]}\n`),
    "the code for readers without JavaScript",
  );
  return match[1];
}

async function requestResetFor(email: string, address: string): Promise<string> {
  const response = await post("/forgot-password", { email }, address);
  assert.equal(response.statusCode, 200, response.body);
  return resetTokenMailedTo(email);
}

async function canSignIn(username: string, password: string): Promise<boolean> {
  const response = await t.app.inject({
    method: "POST",
    url: "/api/v1/auth/login",
    payload: { username, password },
  });
  return response.statusCode === 200;
}

/** The strict CSP holds only if pages carry no inline script, style or event handler. */
function assertNoInlineCode(html: string): void {
  assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/i, "no inline <script>");
  assert.doesNotMatch(html, /<style/i, "no <style>");
  assert.doesNotMatch(html, /<[a-z][^>]*\sstyle\s*=/i, "no style attribute");
  assert.doesNotMatch(html, /<[a-z][^>]*\son[a-z]+\s*=/i, "no event-handler attribute");
  assert.doesNotMatch(html, /javascript:/i, "no javascript: URL");
}

describe("password reset pages", () => {
  it("show a labelled e-mail form without inline code", async () => {
    const response = await page("/forgot-password");
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /<form method="post" action="\/forgot-password">/);
    assert.match(response.body, /<label for="field-email">E-mail<\/label>/);
    assertNoInlineCode(response.body);
  });

  it("reset a password with the mailed link, then refuse the link a second time", async () => {
    const before = await signIn(t, "reset_user");
    const token = await requestResetFor("reset_user@example.test", "198.51.100.1");

    // The page is the same for every link: the code is not in the request, so not in the page.
    const form = await page("/reset-password");
    assert.equal(form.statusCode, 200);
    assert.match(form.body, /<div class="field" data-link-code="true">/);
    assert.match(form.body, /<input id="field-token" name="token" type="text" value autocomplete/);
    assert.match(form.body, /<label for="field-password">/);
    assertNoInlineCode(form.body);

    const weak = await post("/reset-password", { token, password: "qwertyuiop" }, "198.51.100.1");
    assert.equal(weak.statusCode, 400);
    assert.match(weak.body, /Use at least 15 characters\./);
    assert.match(weak.body, new RegExp(`name="token" type="text" value="${token}"`), "kept");
    assert.match(weak.body, /<div class="field" data-link-code="true" hidden>/, "and out of sight");
    assert.ok(!weak.body.includes("qwertyuiop"), "the password is not echoed");
    assertNoInlineCode(weak.body);
    assert.ok(await canSignIn("reset_user", GOOD_PASSWORD), "a weak password changes nothing");

    const done = await post("/reset-password", { token, password: NEW_PASSWORD }, "198.51.100.1");
    assert.equal(done.statusCode, 303, done.body);
    assert.equal(done.headers.location, "/login");
    const flash = done.cookies.find((c) => c.name === "strongroom_flash");
    assert.ok(flash, "a flash message");
    const login = await t.app.inject({
      url: "/login",
      headers: { accept: "text/html", cookie: `strongroom_flash=${flash.value}` },
    });
    assert.match(login.body, /Password changed\. Sign in\./);
    assert.ok(await canSignIn("reset_user", NEW_PASSWORD));
    assert.ok(!(await canSignIn("reset_user", GOOD_PASSWORD)), "the old password is gone");
    const old = await t.app.inject({
      url: "/",
      headers: { accept: "text/html", cookie: before.cookie },
    });
    assert.equal(old.statusCode, 303, "every earlier session ended");

    const again = await post(
      "/reset-password",
      { token, password: "another-long-password-9-orchid" },
      "198.51.100.1",
    );
    assert.equal(again.statusCode, 400);
    assert.match(again.body, /invalid, already used or expired/);
    assert.match(again.body, /href="\/forgot-password"/);
    assert.ok(await canSignIn("reset_user", NEW_PASSWORD), "unchanged by the reused link");
  });

  it("refuse a link after 30 minutes", async () => {
    const token = await requestResetFor("expiry_user@example.test", "198.51.100.2");
    t.clock.advance(31 * 60_000);
    const response = await post(
      "/reset-password",
      { token, password: NEW_PASSWORD },
      "198.51.100.2",
    );
    assert.equal(response.statusCode, 400);
    assert.match(response.body, /invalid, already used or expired/);
    assertNoInlineCode(response.body);
    assert.ok(await canSignIn("expiry_user", GOOD_PASSWORD), "password unchanged");
  });

  it("move the token of a link in the earlier format (query) to the fragment", async () => {
    const token = await requestResetFor("legacy_reset@example.test", "198.51.100.5");
    const legacy = await page(`/reset-password?token=${token}`);
    assert.equal(legacy.statusCode, 303);
    assert.equal(legacy.headers.location, `/reset-password#token=${token}`);
    assert.ok(!legacy.body.includes(token), "not in the body either");
  });

  it("refuse made-up, missing and marked-up links without echoing markup", async () => {
    const madeUp = await post(
      "/reset-password",
      { token: "made-up-token", password: NEW_PASSWORD },
      "198.51.100.3",
    );
    assert.equal(madeUp.statusCode, 400);
    assert.match(madeUp.body, /invalid, already used or expired/);
    const noToken = await post("/reset-password", { password: NEW_PASSWORD }, "198.51.100.3");
    assert.equal(noToken.statusCode, 400);

    const payload = '"><script>alert(1)</script>';
    const marked = await page(`/reset-password?token=${encodeURIComponent(payload)}`);
    assert.equal(marked.statusCode, 400);
    assert.match(marked.body, /invalid, already used or expired/);
    assert.ok(!marked.body.includes("alert(1)"), "not echoed at all");
    assert.equal(marked.headers.location, undefined, "nor redirected to");
    assertNoInlineCode(marked.body);
    const markedPost = await post(
      "/reset-password",
      { token: "made-up", password: payload.repeat(2) },
      "198.51.100.3",
    );
    assert.ok(!markedPost.body.includes("<script>alert"), "no raw script tag from the body");
  });

  it("answer identically for known and unknown addresses, mailing only the known", async () => {
    const mailsBefore = t.mail.length;
    const known = await post(
      "/forgot-password",
      { email: "reset_user@example.test" },
      "198.51.100.4",
    );
    const unknown = await post(
      "/forgot-password",
      { email: "nobody@example.test" },
      "198.51.100.4",
    );
    const markup = await post(
      "/forgot-password",
      { email: '"><img src=x onerror=alert(1)>' },
      "198.51.100.4",
    );
    assert.equal(known.statusCode, 200);
    for (const response of [unknown, markup]) {
      assert.equal(response.statusCode, known.statusCode);
      assert.equal(response.body, known.body);
    }
    assert.match(known.body, /If an account uses that address/);
    assertNoInlineCode(known.body);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      t.mail.slice(mailsBefore).map((m) => m.to),
      ["reset_user@example.test"],
    );

    // Reached before having a session: a signed-in browser needs no CSRF token here either.
    const session = await signIn(t, "expiry_user");
    const signedIn = await post(
      "/forgot-password",
      { email: "nobody@example.test" },
      "198.51.100.4",
      { cookie: session.cookie },
    );
    assert.equal(signedIn.statusCode, 200);

    const empty = await post("/forgot-password", { email: "" }, "198.51.100.4");
    assert.equal(empty.statusCode, 400);
    assert.match(empty.body, /Enter your e-mail address\./);
    assert.match(empty.body, /aria-invalid="true"/);
  });

  it("say to wait when one address asks too often (429)", async () => {
    let response: LightMyRequestResponse | undefined;
    for (let i = 0; i < 11; i += 1)
      response = await post("/forgot-password", { email: "nobody@example.test" }, "198.51.100.5");
    assert.ok(response);
    assert.equal(response.statusCode, 429);
    assert.ok(Number(response.headers["retry-after"]) > 0);
    assert.match(
      response.body,
      /Too many reset requests came from your network\. Wait about \d+ minutes?/,
    );
    assertNoInlineCode(response.body);
  });

  it("say plainly when the server cannot send mail (503)", async () => {
    // A production server without SMTP_URL: its own wiring, its own answer.
    const production = await createTestApp({
      env: { NODE_ENV: "production", PUBLIC_URL: "https://vault.example.test" },
    });
    try {
      const response = await production.app.inject({
        method: "POST",
        url: "/forgot-password",
        headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/html" },
        payload: new URLSearchParams({ email: "reset_user@example.test" }).toString(),
      });
      assert.equal(response.statusCode, 503);
      assert.match(response.body, /This server cannot send e-mail/);
      assertNoInlineCode(response.body);
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(production.mail.length, 0, "nothing sent");
    } finally {
      await production.close();
    }
  });

  it("refuse both forms cross-site (403) and change nothing", async () => {
    const mailsBefore = t.mail.length;
    const crossSite: Array<Record<string, string>> = [
      { origin: "https://evil.example" },
      { "sec-fetch-site": "cross-site" },
    ];
    for (const headers of crossSite) {
      const request = await post(
        "/forgot-password",
        { email: "csrf_reset@example.test" },
        "198.51.100.7",
        headers,
      );
      assert.equal(request.statusCode, 403);
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(t.mail.length, mailsBefore, "no mail sent");

    const token = await requestResetFor("csrf_reset@example.test", "198.51.100.7");
    for (const headers of [...crossSite, { "sec-fetch-site": "same-site" }]) {
      const confirm = await post(
        "/reset-password",
        { token, password: NEW_PASSWORD },
        "198.51.100.7",
        headers,
      );
      assert.equal(confirm.statusCode, 403);
    }
    assert.ok(await canSignIn("csrf_reset", GOOD_PASSWORD), "password unchanged");
    const sameOrigin = await post(
      "/reset-password",
      { token, password: NEW_PASSWORD },
      "198.51.100.7",
      { origin: new URL(t.config.publicUrl).origin },
    );
    assert.equal(sameOrigin.statusCode, 303, "the link still works from our own origin");
  });
});

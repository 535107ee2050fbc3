import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { createTestUser, GOOD_PASSWORD } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
before(async () => {
  t = await createTestApp({ env: { REGISTRATION: "open" } });
  await createTestUser(t, { username: "page_user" });
});
after(async () => {
  await t.close();
});

const FORM = { "content-type": "application/x-www-form-urlencoded", accept: "text/html" };
const encode = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();
const cookieOf = (response: LightMyRequestResponse): string => {
  const cookie = response.cookies.find((c) => c.name === "strongroom_session");
  assert.ok(cookie, "a session cookie");
  return `${cookie.name}=${cookie.value}`;
};
const csrfFrom = (html: string): string => {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  assert.ok(match?.[1], "a CSRF field in the form");
  return match[1];
};

async function signInByForm(next = "/"): Promise<{ cookie: string; csrf: string }> {
  const response = await t.app.inject({
    method: "POST",
    url: `/login?next=${encodeURIComponent(next)}`,
    headers: FORM,
    payload: encode({ username: "page_user", password: GOOD_PASSWORD }),
  });
  assert.equal(response.statusCode, 303, response.body);
  const cookie = cookieOf(response);
  const home = await t.app.inject({ url: "/", headers: { cookie, accept: "text/html" } });
  return { cookie, csrf: csrfFrom(home.body) };
}

describe("pages", () => {
  it("send a signed-out visitor to the sign-in page, then back", async () => {
    const home = await t.app.inject({ url: "/vaults/x-vault", headers: { accept: "text/html" } });
    assert.equal(home.statusCode, 303);
    assert.equal(home.headers.location, "/login?next=%2Fvaults%2Fx-vault");
    const form = await t.app.inject({ url: "/login", headers: { accept: "text/html" } });
    assert.equal(form.statusCode, 200);
    assert.match(form.body, /<label for="field-username">/);
    assert.doesNotMatch(
      form.body,
      /<script>|style="|onclick=/i,
      "no inline script, style or handlers",
    );
    const response = await t.app.inject({
      method: "POST",
      url: "/login?next=%2Fvaults%2Fx-vault",
      headers: FORM,
      payload: encode({ username: "page_user", password: GOOD_PASSWORD }),
    });
    assert.equal(response.headers.location, "/vaults/x-vault");
  });

  for (const next of [
    "//evil.example",
    "https://evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%0d%0aLocation: https://evil.example",
    "javascript:alert(1)",
  ]) {
    it(`never redirects off-site after sign-in (next=${JSON.stringify(next)})`, async () => {
      const response = await t.app.inject({
        method: "POST",
        url: `/login?next=${encodeURIComponent(next)}`,
        headers: FORM,
        payload: encode({ username: "page_user", password: GOOD_PASSWORD }),
      });
      assert.equal(response.statusCode, 303);
      const location = String(response.headers.location);
      assert.ok(
        location.startsWith("/") &&
          !location.startsWith("//") &&
          !location.includes("\\") &&
          !/[\r\n]/.test(location),
        location,
      );
      assert.ok(location === "/" || location === next, location);
    });
  }

  it("a wrong password re-renders the form with the username kept and the password not", async () => {
    const response = await t.app.inject({
      method: "POST",
      url: "/login",
      headers: FORM,
      payload: encode({ username: "page_user", password: "wrong-password-on-page" }),
    });
    assert.equal(response.statusCode, 401);
    assert.match(response.body, /value="page_user"/);
    assert.ok(!response.body.includes("wrong-password-on-page"));
    assert.match(response.body, /role="alert"/);
  });

  it("create a vault, add a secret, reveal it once with no-store, delete it — all with CSRF", async () => {
    const { cookie, csrf } = await signInByForm();
    const refused = await t.app.inject({
      method: "POST",
      url: "/vaults",
      headers: { ...FORM, cookie },
      payload: encode({ slug: "page-vault" }),
    });
    assert.equal(refused.statusCode, 403, "no CSRF token, no vault");
    const created = await t.app.inject({
      method: "POST",
      url: "/vaults",
      headers: { ...FORM, cookie },
      payload: encode({ _csrf: csrf, slug: "page-vault", description: "<b>bold</b>" }),
    });
    assert.equal(created.statusCode, 303);
    const flash = created.cookies.find((c) => c.name === "strongroom_flash");
    assert.ok(flash, "a flash message is set");
    const vaultPage = await t.app.inject({
      url: "/vaults/page-vault",
      headers: { cookie: `${cookie}; strongroom_flash=${flash.value}`, accept: "text/html" },
    });
    assert.match(vaultPage.body, /&lt;b>bold&lt;\/b>/, "user text is escaped");
    assert.ok(!vaultPage.body.includes("<b>bold"));
    assert.match(vaultPage.body, /Vault page-vault created\./, "flash message");
    const saved = await t.app.inject({
      method: "POST",
      url: "/vaults/page-vault/secrets",
      headers: { ...FORM, cookie },
      payload: encode({
        _csrf: csrf,
        name: "PAGE_SECRET",
        value: 'page-secret-value"><script>alert(1)</script>',
      }),
    });
    assert.equal(saved.statusCode, 303);
    const secretPage = await t.app.inject({
      url: saved.headers.location as string,
      headers: { cookie, accept: "text/html" },
    });
    assert.ok(!secretPage.body.includes("page-secret-value"), "not shown before Reveal");
    const revealed = await t.app.inject({
      method: "POST",
      url: "/vaults/page-vault/secrets/PAGE_SECRET/reveal",
      headers: { ...FORM, cookie },
      payload: encode({ _csrf: csrf }),
    });
    assert.equal(revealed.statusCode, 200);
    assert.equal(revealed.headers["cache-control"], "no-store");
    assert.match(revealed.body, /page-secret-value&quot;>&lt;script>alert\(1\)&lt;\/script>/);
    assert.ok(!revealed.body.includes("<script>alert"));
    const found = await t.app.inject({
      url: "/vaults/page-vault?q=page_sec",
      headers: { cookie, accept: "text/html" },
    });
    assert.match(found.body, />PAGE_SECRET</);
    const none = await t.app.inject({
      url: "/vaults/page-vault?q=nothing-like-it",
      headers: { cookie, accept: "text/html" },
    });
    assert.match(none.body, /No secret matches\./);
    const bad = await t.app.inject({
      method: "POST",
      url: "/vaults/page-vault/secrets",
      headers: { ...FORM, cookie },
      payload: encode({ _csrf: csrf, name: "1bad name", value: "" }),
    });
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /aria-invalid="true"/);
    const deleted = await t.app.inject({
      method: "POST",
      url: "/vaults/page-vault/secrets/PAGE_SECRET/delete",
      headers: { ...FORM, cookie },
      payload: encode({ _csrf: csrf }),
    });
    assert.equal(deleted.statusCode, 303);
    assert.equal(
      (
        await t.app.inject({
          url: "/vaults/page-vault/secrets/PAGE_SECRET",
          headers: { cookie, accept: "text/html" },
        })
      ).statusCode,
      404,
    );
  });

  it("a forged flash cookie is ignored", async () => {
    const { cookie } = await signInByForm();
    const forged = Buffer.from(
      JSON.stringify({ kind: "error", text: "Your account is compromised: visit evil.example" }),
    ).toString("base64url");
    const response = await t.app.inject({
      url: "/",
      headers: { cookie: `${cookie}; strongroom_flash=${forged}.AAAA`, accept: "text/html" },
    });
    assert.ok(!response.body.includes("evil.example"));
  });

  it("the API still refuses form bodies", async () => {
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      payload: encode({ username: "page_user", password: GOOD_PASSWORD }),
    });
    assert.equal(response.statusCode, 415);
  });

  it("sign-out ends the session", async () => {
    const { cookie, csrf } = await signInByForm();
    const response = await t.app.inject({
      method: "POST",
      url: "/logout",
      headers: { ...FORM, cookie },
      payload: encode({ _csrf: csrf }),
    });
    assert.equal(response.statusCode, 303);
    assert.equal(
      (await t.app.inject({ url: "/", headers: { cookie, accept: "text/html" } })).statusCode,
      303,
    );
  });

  it("mask every password field and leave paste and password managers alone", async () => {
    const { cookie } = await signInByForm();
    const pages = [
      await t.app.inject({ url: "/login", headers: { accept: "text/html" } }),
      await t.app.inject({ url: "/register", headers: { accept: "text/html" } }),
      await t.app.inject({ url: "/settings", headers: { cookie, accept: "text/html" } }),
    ];
    let passwordFields = 0;
    for (const page of pages) {
      assert.equal(page.statusCode, 200);
      for (const input of page.body.match(/<input[^>]*>/g) ?? []) {
        if (!/name="[^"]*password[^"]*"/i.test(input)) continue;
        passwordFields += 1;
        assert.match(input, /type="password"/, input);
        assert.doesNotMatch(input, /autocomplete="off"/, input);
      }
      assert.doesNotMatch(page.body, /onpaste|oncopy|ondrop/i);
    }
    assert.ok(passwordFields >= 4, `password fields seen: ${passwordFields}`);
  });

  it("offer sign-out on every signed-in page, and only by POST", async () => {
    const { cookie, csrf } = await signInByForm();
    await t.app.inject({
      method: "POST",
      url: "/vaults",
      headers: { ...FORM, cookie },
      payload: encode({ _csrf: csrf, slug: "signout-vault" }),
    });
    for (const url of ["/", "/settings", "/vaults/signout-vault", "/docs"]) {
      const page = await t.app.inject({ url, headers: { cookie, accept: "text/html" } });
      assert.equal(page.statusCode, 200, url);
      assert.match(page.body, /<form method="post" action="\/logout"/, url);
    }
    const viaGet = await t.app.inject({ url: "/logout", headers: { cookie, accept: "text/html" } });
    assert.notEqual(viaGet.statusCode, 303);
    const home = await t.app.inject({ url: "/", headers: { cookie, accept: "text/html" } });
    assert.equal(home.statusCode, 200, "a GET /logout signs nobody out");
  });

  it("owners add and remove members; the last owner cannot be removed", async () => {
    await createTestUser(t, { username: "member_m" });
    const { cookie, csrf } = await signInByForm();
    await t.app.inject({
      method: "POST",
      url: "/vaults",
      headers: { ...FORM, cookie },
      payload: encode({ _csrf: csrf, slug: "team-pages" }),
    });
    const added = await t.app.inject({
      method: "POST",
      url: "/vaults/team-pages/members",
      headers: { ...FORM, cookie },
      payload: encode({ _csrf: csrf, username: "member_m", role: "viewer" }),
    });
    assert.equal(added.statusCode, 303);
    let page = await t.app.inject({
      url: "/vaults/team-pages",
      headers: { cookie, accept: "text/html" },
    });
    assert.match(page.body, /member_m — viewer/);
    assert.equal(
      (
        await t.app.inject({
          method: "POST",
          url: "/vaults/team-pages/members/member_m/remove",
          headers: { ...FORM, cookie },
          payload: encode({}),
        })
      ).statusCode,
      403,
      "no CSRF token",
    );
    const removed = await t.app.inject({
      method: "POST",
      url: "/vaults/team-pages/members/member_m/remove",
      headers: { ...FORM, cookie },
      payload: encode({ _csrf: csrf }),
    });
    assert.equal(removed.statusCode, 303);
    page = await t.app.inject({
      url: "/vaults/team-pages",
      headers: { cookie, accept: "text/html" },
    });
    assert.doesNotMatch(page.body, /member_m — viewer/);
    const last = await t.app.inject({
      method: "POST",
      url: "/vaults/team-pages/members/page_user/remove",
      headers: { ...FORM, cookie },
      payload: encode({ _csrf: csrf }),
    });
    assert.equal(last.statusCode, 409);
    assert.match(last.body, /last owner cannot leave/);
  });
});

describe("pages over https", () => {
  const ORIGIN = "https://strongroom.test";
  const VIA_PROXY = { "x-forwarded-proto": "https", "x-forwarded-host": "strongroom.test" };
  let secure: TestApp;
  before(async () => {
    secure = await createTestApp({ env: { PUBLIC_URL: ORIGIN, TRUST_PROXY: "127.0.0.1" } });
    await createTestUser(secure, { username: "https_user" });
  });
  after(async () => {
    await secure.close();
  });

  it("carry the flash message in a __Host- cookie (Secure, Path=/, no Domain), and only that one", async () => {
    const login = await secure.app.inject({
      method: "POST",
      url: "/login",
      headers: { ...FORM, ...VIA_PROXY, origin: ORIGIN },
      payload: encode({ username: "https_user", password: GOOD_PASSWORD }),
    });
    assert.equal(login.statusCode, 303, login.body);
    const session = login.cookies.find((c) => c.name === "__Host-strongroom_session");
    assert.ok(session, "the __Host- session cookie");
    const cookie = `${session.name}=${session.value}`;
    const home = await secure.app.inject({
      url: "/",
      headers: { ...VIA_PROXY, cookie, accept: "text/html" },
    });
    const created = await secure.app.inject({
      method: "POST",
      url: "/vaults",
      headers: { ...FORM, ...VIA_PROXY, origin: ORIGIN, cookie },
      payload: encode({ _csrf: csrfFrom(home.body), slug: "https-vault" }),
    });
    assert.equal(created.statusCode, 303, created.body);
    const setCookies = ([] as string[]).concat(created.headers["set-cookie"] ?? []);
    const header = setCookies.find((line) => line.includes("strongroom_flash="));
    assert.ok(header, "a flash cookie is set");
    assert.match(header, /^__Host-strongroom_flash=[^;]+;/, "the __Host- prefix");
    assert.match(header, /; Secure/i);
    assert.match(header, /; Path=\/(;|$)/);
    assert.doesNotMatch(header, /Domain=/i);

    const flash = created.cookies.find((c) => c.name === "__Host-strongroom_flash");
    assert.ok(flash);
    const shown = await secure.app.inject({
      url: "/vaults/https-vault",
      headers: {
        ...VIA_PROXY,
        cookie: `${cookie}; __Host-strongroom_flash=${flash.value}`,
        accept: "text/html",
      },
    });
    assert.equal(shown.statusCode, 200);
    assert.match(shown.body, /Vault https-vault created\./, "the flash round-trips");
    const cleared = ([] as string[]).concat(shown.headers["set-cookie"] ?? []);
    assert.ok(
      cleared.some((line) => /^__Host-strongroom_flash=;.*Secure/i.test(line)),
      "and is cleared under the same name, Secure",
    );

    // The unprefixed name is not read over https: a cookie planted by a sibling subdomain
    // or a plain-http page (which cannot set __Host-) shows nothing, even with a valid MAC.
    const planted = await secure.app.inject({
      url: "/vaults/https-vault",
      headers: {
        ...VIA_PROXY,
        cookie: `${cookie}; strongroom_flash=${flash.value}`,
        accept: "text/html",
      },
    });
    assert.doesNotMatch(planted.body, /Vault https-vault created\./);
  });
});

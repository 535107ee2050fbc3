// End-to-end flows through the real pages in Debian's Chromium: sign in, create a vault,
// keep a secret, reveal it, version it, share the vault with a viewer who can read but not
// edit, and delete with confirmation. Then an XSS corpus stored in every user-controlled
// field these pages show: no dialog, no script, the text shown literally.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { GOOD_PASSWORD } from "../helpers/accounts.js";
import type { TestServer } from "../helpers/browser.js";
import {
  browserSuiteSkip,
  createServerUser,
  launchBrowser,
  openPage,
  saveScreenshot,
  signInThroughApi,
  startTestServer,
} from "../helpers/browser.js";

const PHONE = { width: 390, height: 844 };

/** Classic and modern XSS payloads; each must show as text and do nothing. */
export const XSS_PAYLOADS = [
  "<script>alert(1)</script>",
  "<img src=x onerror=alert(2)>",
  "<svg onload=alert(3)>",
  "<svg><script>alert(4)</script></svg>",
  '"><script>alert(5)</script>',
  "'><img src=x onerror=alert(6)>",
  '" onmouseover="alert(7)" x="',
  "' autofocus onfocus='alert(8)' x='",
  "javascript:alert(9)",
  '<a href="javascript:alert(10)">click</a>',
  '<iframe src="javascript:alert(11)"></iframe>',
  "<body onload=alert(12)>",
  "<details open ontoggle=alert(13)>",
  "<math><mtext></form><form><mglyph><style></math><img src onerror=alert(14)>",
  "</textarea><script>alert(15)</script>",
  "</title><script>alert(16)</script>",
  "<style>@import 'javascript:alert(17)';</style>",
  "<input onfocus=alert(18) autofocus>",
  "<video><source onerror=alert(19)>",
  '<object data="javascript:alert(20)">',
  '<base href="javascript:alert(21)//">',
  '<meta http-equiv="refresh" content="0;url=javascript:alert(22)">',
  "{{7*7}}",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a template-injection payload, literally
  "${alert(23)}",
  "<%= 7*7 %>",
  "#{7*7}",
  "\u003cscript\u003ealert(24)\u003c/script\u003e",
  "＜script＞alert(25)＜/script＞",
  "<scr<script>ipt>alert(26)</scr</script>ipt>",
  "%3Cscript%3Ealert(27)%3C%2Fscript%3E",
  "&lt;script&gt;alert(28)&lt;/script&gt;",
  '<div style="background:url(javascript:alert(29))">',
  "\u202e<script>alert(30)</script>",
  "<template><script>alert(31)</script></template>",
  '<noscript><p title="</noscript><img src=x onerror=alert(32)>">',
];

describe("flows in Chromium", { skip: browserSuiteSkip() }, () => {
  let server: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  before(async () => {
    server = await startTestServer();
    browser = await launchBrowser();
    await createServerUser(server, { username: "alice_e2e" });
    await createServerUser(server, { username: "victor_e2e" });
  });
  after(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await server?.stop();
  });

  async function newContext(viewport = { width: 1280, height: 800 }): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport });
    contexts.push(context);
    return context;
  }

  async function signInWithForm(page: Page, username: string): Promise<void> {
    await page.goto(`${server.url}/`);
    assert.match(page.url(), /\/login\?next=%2F$/);
    await page.getByLabel("Username or e-mail").fill(username);
    await page.getByLabel("Password").fill(GOOD_PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL(`${server.url}/`);
  }

  it("sign in → vault → secret → reveal → new version → viewer reads but cannot edit → delete", async () => {
    const alice = await openPage(await newContext());
    await signInWithForm(alice.page, "alice_e2e");
    await alice.page.getByLabel("Name (a-z, 0-9 and -)").fill("e2e-vault");
    await alice.page.getByLabel("Description").fill("Keys for the e2e run");
    await alice.page.getByRole("button", { name: "Create vault" }).click();
    await alice.page.waitForURL(`${server.url}/vaults/e2e-vault`);
    assert.ok(await alice.page.getByText("Vault e2e-vault created.").isVisible());

    await alice.page.getByLabel("Name (letters, digits, _ . -)").fill("DATABASE_URL");
    await alice.page.getByLabel("Value").fill("postgres://app:s3cret@db/app");
    await alice.page.getByRole("button", { name: "Save secret" }).click();
    await alice.page.waitForURL(/\/vaults\/e2e-vault\/secrets\/DATABASE_URL$/);
    assert.equal(
      await alice.page.getByText("postgres://app:s3cret@db/app").count(),
      0,
      "hidden until revealed",
    );
    await alice.page.getByRole("button", { name: "Reveal" }).click();
    assert.ok(await alice.page.getByText("postgres://app:s3cret@db/app").isVisible());
    await saveScreenshot(alice.page, "secret-revealed-desktop");

    await alice.page.getByLabel("New value").fill("postgres://app:n3w@db/app");
    await alice.page.getByRole("button", { name: "Save new version" }).click();
    assert.ok(await alice.page.getByText("is now at version 2").isVisible());

    await alice.page.goto(`${server.url}/vaults/e2e-vault`);
    await alice.page.getByLabel("Member's username").fill("victor_e2e");
    await alice.page.getByLabel("Role").selectOption("viewer");
    await alice.page.getByRole("button", { name: "Add or change member" }).click();
    assert.ok(await alice.page.getByText("victor_e2e is now viewer.").isVisible());

    const victor = await openPage(await newContext(PHONE));
    await signInWithForm(victor.page, "victor_e2e");
    await victor.page.getByRole("link", { name: "e2e-vault" }).click();
    await victor.page.getByRole("link", { name: "DATABASE_URL" }).click();
    assert.equal(
      await victor.page.getByRole("button", { name: "Save new version" }).count(),
      0,
      "a viewer gets no edit form",
    );
    await victor.page.getByRole("button", { name: "Reveal" }).click();
    assert.ok(await victor.page.getByText("postgres://app:n3w@db/app").isVisible());
    await saveScreenshot(victor.page, "secret-revealed-phone");
    const overflow = await victor.page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    assert.ok(overflow <= 0, "fits a 390 px phone");

    await alice.page.goto(`${server.url}/vaults/e2e-vault/secrets/DATABASE_URL`);
    await alice.page.getByRole("button", { name: /Delete this secret/ }).click();
    assert.equal(alice.dialogs.length, 1, "asks first");
    assert.match(alice.dialogs[0]?.message ?? "", /Delete DATABASE_URL/);
    assert.match(alice.page.url(), /DATABASE_URL$/, "declining keeps the secret");
    // Without JavaScript the form submits directly; form.submit() takes that path.
    await Promise.all([
      alice.page.waitForURL(`${server.url}/vaults/e2e-vault`),
      alice.page.evaluate(() =>
        (document.querySelector("form[data-confirm]") as HTMLFormElement).submit(),
      ),
    ]);
    assert.ok(await alice.page.getByText("deleted and shredded").isVisible());
    victor.assertNoScriptTrouble();
    await victor.page.goto(`${server.url}/vaults/e2e-vault/secrets/DATABASE_URL`);
    assert.ok(await victor.page.getByText("Not found").first().isVisible());
    alice.dialogs.length = 0;
    alice.assertNoScriptTrouble();
  });

  it("stored XSS payloads show as text and never run", async () => {
    const context = await newContext();
    const csrf = await signInThroughApi(context, server, "alice_e2e");
    const api = async (method: string, path: string, data: unknown): Promise<number> =>
      (
        await context.request.fetch(`${server.url}/api/v1${path}`, {
          method,
          headers: { "x-csrf-token": csrf, "content-type": "application/json", origin: server.url },
          data: JSON.stringify(data),
        })
      ).status();
    assert.equal(
      await api("POST", "/vaults", {
        slug: "xss-vault",
        description: XSS_PAYLOADS.slice(0, 12).join(" "),
      }),
      201,
    );
    for (const [i, payload] of XSS_PAYLOADS.entries()) {
      assert.equal(
        await api("PUT", `/vaults/xss-vault/secrets/XSS_${i}`, { value: payload, note: payload }),
        201,
        payload,
      );
    }
    const guarded = await openPage(context);
    await guarded.page.goto(`${server.url}/`);
    await guarded.page.goto(`${server.url}/vaults/xss-vault`);
    assert.ok(
      ((await guarded.page.locator("main").textContent()) ?? "").includes(XSS_PAYLOADS[0] ?? ""),
      "the description shows literally",
    );
    for (const [i, payload] of XSS_PAYLOADS.entries()) {
      await guarded.page.goto(`${server.url}/vaults/xss-vault/secrets/XSS_${i}`);
      await guarded.page.getByRole("button", { name: "Reveal" }).click();
      const shown = await guarded.page.locator("#secret-value").textContent();
      assert.equal(shown, payload, `value ${i} shows literally`);
      assert.equal(
        await guarded.page.locator(".secret-note").textContent(),
        payload,
        `note ${i} shows literally`,
      );
    }
    assert.deepEqual(guarded.dialogs, [], "no dialog fired");
    const injected = await guarded.page.evaluate(
      () =>
        document.querySelectorAll(
          "main script, main iframe, main object, main svg, main img, main style",
        ).length,
    );
    assert.equal(injected, 0, "no element came from user text");
    guarded.assertNoScriptTrouble();
  });

  it("a revealed value is removed from the page after a minute", async () => {
    const context = await newContext();
    const csrf = await signInThroughApi(context, server, "alice_e2e");
    await context.request.fetch(`${server.url}/api/v1/vaults`, {
      method: "POST",
      headers: { "x-csrf-token": csrf, "content-type": "application/json", origin: server.url },
      data: JSON.stringify({ slug: "timer-vault" }),
    });
    await context.request.fetch(`${server.url}/api/v1/vaults/timer-vault/secrets/TIMED`, {
      method: "PUT",
      headers: { "x-csrf-token": csrf, "content-type": "application/json", origin: server.url },
      data: JSON.stringify({ value: "visible-for-a-minute" }),
    });
    const guarded = await openPage(context);
    await guarded.page.clock.install();
    await guarded.page.goto(`${server.url}/vaults/timer-vault/secrets/TIMED`);
    await guarded.page.getByRole("button", { name: "Reveal" }).click();
    assert.ok(await guarded.page.getByText("visible-for-a-minute").isVisible());
    await guarded.page.clock.fastForward(61_000);
    assert.equal(
      await guarded.page.getByText("visible-for-a-minute").count(),
      0,
      "gone from the page",
    );
    assert.ok(await guarded.page.getByText("Hidden after a minute").isVisible());
    guarded.assertNoScriptTrouble();
  });
});

// One-time share links in Debian's Chromium: an editor makes a link on the secret's share
// page (encrypted in the browser), someone with no account opens it in a fresh context and
// sees the value, and a second open fails; then the same with a passphrase. Loading the
// link's page takes no view: only "Reveal" does. A link made by `strongroom share` (encrypted
// in Node) opens in the page just the same.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { createApiToken } from "../../src/tokens/tokens.service.js";
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
import { runCli } from "../helpers/process.js";

const VALUE = "sk_live_e2e-share <b>&amp;</b> ✓";

describe("share links in Chromium", { skip: browserSuiteSkip() }, () => {
  let server: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  let creator: Page;
  /** A write token for the vault `shared`, for `strongroom share`. */
  let token: string;
  let cwd: string;

  before(async () => {
    server = await startTestServer();
    browser = await launchBrowser();
    const user = await createServerUser(server, { username: "sharer_e2e" });
    cwd = mkdtempSync(join(tmpdir(), "strongroom-share-cli-"));
    const context = await newContext();
    const csrfToken = await signInThroughApi(context, server, "sharer_e2e");
    const api = (method: "POST" | "PUT", path: string, data: unknown) =>
      context.request.fetch(`${server.url}/api/v1${path}`, {
        method,
        data,
        headers: { "x-csrf-token": csrfToken },
      });
    assert.equal((await api("POST", "/vaults", { slug: "shared" })).status(), 201);
    assert.equal(
      (await api("PUT", "/vaults/shared/secrets/STRIPE_KEY", { value: VALUE })).status(),
      201,
    );
    // A plain page: it accepts the revoke confirmation itself.
    creator = await context.newPage();
    token = (
      await createApiToken(server.server.database.db, {
        userId: user.id,
        username: user.username,
        name: "share-cli",
        scopes: [{ vault: "shared", permission: "write" }],
        expiresInDays: 1,
        now: new Date(),
        address: "127.0.0.1",
      })
    ).token;
  });
  after(async () => {
    if (cwd !== undefined) rmSync(cwd, { recursive: true, force: true });
    for (const context of contexts) await context.close();
    await browser?.close();
    await server?.stop();
  });

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    return context;
  }

  async function makeLink(options: { passphrase?: string; views?: number } = {}): Promise<string> {
    await creator.goto(`${server.url}/vaults/shared/secrets/STRIPE_KEY`);
    await creator.getByRole("link", { name: "Share links" }).click();
    await creator.waitForURL(/\/vaults\/shared\/secrets\/STRIPE_KEY\/shares$/);
    if (options.views !== undefined)
      await creator.getByLabel("Views before it stops working").fill(String(options.views));
    if (options.passphrase !== undefined)
      await creator.getByLabel("Passphrase (optional)").fill(options.passphrase);
    await creator.getByRole("button", { name: "Create link" }).click();
    const link = creator.getByLabel("Link (shown once: copy it now)");
    await link.waitFor({ state: "visible" });
    const url = await link.inputValue();
    assert.match(url, /\/s\/[A-Za-z0-9_-]{32}#[A-Za-z0-9_-]{43}(\.p)?$/);
    return url;
  }

  async function openLink(url: string, passphrase?: string) {
    const guarded = await openPage(await newContext());
    await guarded.page.goto(url);
    if (passphrase !== undefined) await guarded.page.getByLabel("Passphrase").fill(passphrase);
    await guarded.page.getByRole("button", { name: "Reveal" }).click();
    await guarded.page
      .locator("#share-result:not([hidden]), #share-status.field-error")
      .first()
      .waitFor();
    return guarded;
  }

  it("creates a link, opens it once in a fresh browser, and refuses the second open", async () => {
    const url = await makeLink();
    const key = url.split("#")[1] ?? "";

    // Loading the page (as a link preview would) takes no view.
    const preview = await openPage(await newContext());
    await preview.page.goto(url);
    assert.ok(await preview.page.getByRole("button", { name: "Reveal" }).isVisible());
    await preview.page.close();

    const first = await openLink(url);
    assert.equal(await first.page.locator("#share-value").textContent(), VALUE);
    assert.equal(await first.page.locator("#share-name").textContent(), "STRIPE_KEY");
    assert.ok(await first.page.getByText("This was the link's last view").isVisible());
    // The key leaves the address bar once used.
    assert.ok(!first.page.url().includes("#"));
    assert.deepEqual(first.cspViolations(), []);
    assert.deepEqual(first.pageErrors, []);
    await saveScreenshot(first.page, "share-link-revealed");

    const second = await openLink(url);
    assert.ok(await second.page.getByText("used up, revoked, or never existed").isVisible());
    assert.equal(await second.page.locator("#share-value").textContent(), "");

    // The server never saw the key or the value: neither is in its database.
    const rows = await server.server.database.db.selectFrom("audit_events").selectAll().execute();
    const stored = JSON.stringify(rows);
    assert.ok(!stored.includes(key));
    assert.ok(!stored.includes("sk_live_e2e-share"));
  });

  it("asks for the passphrase, lets a wrong one be retried, and opens with the right one", async () => {
    const url = await makeLink({ passphrase: "correct horse battery", views: 2 });
    assert.ok(url.endsWith(".p"));
    const reader = await openLink(url, "wrong passphrase");
    assert.ok(await reader.page.getByText("Wrong passphrase").isVisible());
    // The view is taken; the page keeps what it received, so a retry needs no second view.
    await reader.page.getByLabel("Passphrase").fill("correct horse battery");
    await reader.page.getByRole("button", { name: "Reveal" }).click();
    await reader.page.locator("#share-result:not([hidden])").waitFor();
    assert.equal(await reader.page.locator("#share-value").textContent(), VALUE);
    assert.ok(await reader.page.getByText("can be opened 1 more time").isVisible());

    // Without the passphrase, the link alone does not open it.
    const bare = await openPage(await newContext());
    await bare.page.goto(url.replace(/\.p$/, ""));
    await bare.page.getByRole("button", { name: "Reveal" }).click();
    await bare.page.getByText("Enter the passphrase").waitFor();
    assert.equal(await bare.page.locator("#share-value").textContent(), "");
  });

  it("opens a link made by `strongroom share` (encrypted in Node), with and without a passphrase", async () => {
    for (const passphrase of [undefined, "correct horse battery"]) {
      const made = await runCli(
        ["share", "shared/STRIPE_KEY", ...(passphrase === undefined ? [] : ["--passphrase-stdin"])],
        { STRONGROOM_URL: server.url, STRONGROOM_TOKEN: token },
        cwd,
        passphrase === undefined ? undefined : `${passphrase}\n`,
      );
      assert.equal(made.code, 0, made.stderr);
      // The link carries PUBLIC_URL, which is the unknown port's placeholder here (see
      // startTestServer): open its path and key on the server's real address.
      const printed = new URL(made.stdout.trim());
      assert.equal(printed.hash.endsWith(".p"), passphrase !== undefined);
      const reader = await openLink(`${server.url}${printed.pathname}${printed.hash}`, passphrase);
      assert.equal(await reader.page.locator("#share-value").textContent(), VALUE);
      assert.equal(await reader.page.locator("#share-name").textContent(), "STRIPE_KEY");
      assert.ok(await reader.page.getByText("This was the link's last view").isVisible());
      assert.deepEqual(reader.pageErrors, []);
    }
  });

  it("lists live links to the creator and revokes one without JavaScript", async () => {
    const url = await makeLink();
    await creator.goto(`${server.url}/vaults/shared/secrets/STRIPE_KEY/shares`);
    const revokes = creator.getByRole("button", { name: /^Revoke/ });
    const before = await revokes.count();
    assert.ok(before >= 1);
    creator.once("dialog", (dialog) => void dialog.accept());
    await revokes.first().click();
    await creator.getByText("Link revoked.").waitFor();
    assert.equal(await creator.getByRole("button", { name: /^Revoke/ }).count(), before - 1);
    // The newest link was listed first, so the one just made is gone.
    const reader = await openLink(url);
    assert.ok(await reader.page.getByText("used up, revoked, or never existed").isVisible());
  });
});

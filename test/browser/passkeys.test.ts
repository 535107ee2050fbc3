// Passkeys through the real pages in Debian's Chromium, with Chromium's virtual authenticator
// (DevTools protocol: WebAuthn.enable / addVirtualAuthenticator) standing in for a device with
// a screen lock: add a passkey in the settings, sign in with it alone, then sign in with the
// password and the passkey as the second factor. The server's public URL is
// http://localhost:PORT, since WebAuthn refuses an IP address as the relying party.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser, Locator, Page } from "playwright-core";
import { GOOD_PASSWORD } from "../helpers/accounts.js";
import type { TestServer } from "../helpers/browser.js";
import {
  browserSuiteSkip,
  createServerUser,
  launchBrowser,
  openPage,
  saveScreenshot,
  startTestServer,
} from "../helpers/browser.js";
import { findFreePort } from "../helpers/redis-server.js";

const FLOW_TIMEOUT_MS = 60_000;
const ACTION_TIMEOUT_MS = 10_000;

/** Runs `action` and waits until the page it leads to (after redirects) has loaded. */
async function navigatesAfter(page: Page, action: () => Promise<void>): Promise<void> {
  const navigated = page.waitForEvent("framenavigated", {
    predicate: (frame) => frame === page.mainFrame(),
  });
  await action();
  await navigated;
  await page.waitForLoadState("load");
}

function headerSignOut(page: Page): Locator {
  return page.getByRole("navigation", { name: "Main" }).getByRole("button", { name: "Sign out" });
}

describe("passkeys in Chromium", { skip: browserSuiteSkip() }, () => {
  let server: TestServer;
  let browser: Browser;
  let origin: string;

  before(async () => {
    const port = await findFreePort();
    origin = `http://localhost:${port}`;
    server = await startTestServer({ PORT: String(port), PUBLIC_URL: origin });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("adds a passkey, signs in with it alone, and uses it as the second factor", {
    timeout: FLOW_TIMEOUT_MS,
  }, async () => {
    await createServerUser(server, { username: "piper_passkey" });
    const context = await browser.newContext();
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    try {
      const guarded = await openPage(context);
      const { page } = guarded;
      const cdp = await context.newCDPSession(page);
      await cdp.send("WebAuthn.enable");
      const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
        options: {
          protocol: "ctap2",
          transport: "internal",
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
          automaticPresenceSimulation: true,
        },
      });

      // Password sign-in, then a passkey from the settings page.
      await page.goto(`${origin}/login`);
      await page.getByLabel("Username or e-mail").fill("piper_passkey");
      await page.getByLabel("Password").fill(GOOD_PASSWORD);
      await navigatesAfter(page, () =>
        page.getByRole("button", { name: "Sign in", exact: true }).click(),
      );
      await page.goto(`${origin}/settings`);
      await page.getByLabel("Name for the new passkey").fill("laptop <b>");
      await navigatesAfter(page, () => page.getByRole("button", { name: "Add a passkey" }).click());
      const row = page.getByRole("row", { name: /laptop <b>/ });
      assert.ok(await row.isVisible(), "the new passkey is listed, its name as text");
      const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
      assert.equal(credentials.length, 1);
      assert.equal(credentials[0]?.isResidentCredential, true, "a discoverable credential");
      await saveScreenshot(page, "passkeys-settings");

      // Signed out, the passkey alone signs in.
      await navigatesAfter(page, () => headerSignOut(page).click());
      await page.goto(`${origin}/login`);
      await navigatesAfter(page, () =>
        page.getByRole("button", { name: "Use a passkey", exact: true }).click(),
      );
      assert.equal(new URL(page.url()).pathname, "/");
      assert.ok(await headerSignOut(page).isVisible(), "signed in");

      // The password alone no longer does: the passkey is the second factor.
      await navigatesAfter(page, () => headerSignOut(page).click());
      await page.goto(`${origin}/login`);
      await page.getByLabel("Username or e-mail").fill("piper_passkey");
      await page.getByLabel("Password").fill(GOOD_PASSWORD);
      await navigatesAfter(page, () =>
        page.getByRole("button", { name: "Sign in", exact: true }).click(),
      );
      assert.ok(await page.getByLabel("Two-factor code (or a recovery code)").isVisible());
      await page.getByLabel("Password").fill(GOOD_PASSWORD);
      await navigatesAfter(page, () =>
        page.getByRole("button", { name: "Use a passkey instead of a code" }).click(),
      );
      assert.equal(new URL(page.url()).pathname, "/");
      assert.ok(await headerSignOut(page).isVisible(), "signed in with password and passkey");

      // The sign-ins moved the authenticator's counter, and the server kept up.
      const after = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
      assert.ok((after.credentials[0]?.signCount ?? 0) >= 2);

      // The 401 of the password-only step is the one console error the flow may leave.
      const errors = guarded.consoleErrors().filter((entry) => !/status of 401/.test(entry.text));
      assert.deepEqual(errors, []);
      assert.deepEqual(
        guarded.pageErrors.map((e) => e.message),
        [],
      );
      assert.deepEqual(guarded.dialogs, []);
    } finally {
      await context.close();
    }
  });
});

// Step-up re-authentication and enforced two-factor in Debian's Chromium: a session whose
// last proof has lapsed is asked for the password on Reveal and comes back to the secret,
// where Reveal then works; an admin without two-factor under REQUIRE_MFA=admins is kept on
// the settings page until enrolled, then goes on. No console error or CSP violation.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext } from "playwright-core";
import { generateTotpCode } from "../../src/accounts/totp.js";
import { GOOD_PASSWORD } from "../helpers/accounts.js";
import type { TestServer } from "../helpers/browser.js";
import {
  browserSuiteSkip,
  createServerUser,
  launchBrowser,
  openPage,
  signInThroughApi,
  startTestServer,
} from "../helpers/browser.js";

const FLOW_TIMEOUT_MS = 60_000;
const ACTION_TIMEOUT_MS = 10_000;

describe("step-up and enforced two-factor in Chromium", { skip: browserSuiteSkip() }, () => {
  let server: TestServer;
  let browser: Browser;
  const contexts: BrowserContext[] = [];

  before(async () => {
    server = await startTestServer({ REQUIRE_MFA: "admins" });
    browser = await launchBrowser();
    await createServerUser(server, { username: "stella_step" });
    await createServerUser(server, { username: "adam_admin", role: "admin" });
  });
  after(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await server?.stop();
  });

  async function newContext(): Promise<BrowserContext> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    contexts.push(context);
    return context;
  }

  it("asks for the password on a stale Reveal, then returns to the secret", {
    timeout: FLOW_TIMEOUT_MS,
  }, async () => {
    const context = await newContext();
    const csrf = await signInThroughApi(context, server, "stella_step");
    const api = async (method: string, path: string, data: unknown): Promise<number> =>
      (
        await context.request.fetch(`${server.url}/api/v1${path}`, {
          method,
          headers: { "x-csrf-token": csrf, "content-type": "application/json", origin: server.url },
          data: JSON.stringify(data),
        })
      ).status();
    assert.equal(await api("POST", "/vaults", { slug: "step-vault" }), 201);
    assert.equal(await api("PUT", "/vaults/step-vault/secrets/API_KEY", { value: "k-7731" }), 201);
    // The sign-in was an hour ago as far as step-up is concerned.
    await server.server.database.db
      .updateTable("sessions")
      .set({ reauth_at: new Date(Date.now() - 3_600_000).toISOString() })
      .execute();

    const guarded = await openPage(context);
    const { page } = guarded;
    await page.goto(`${server.url}/vaults/step-vault/secrets/API_KEY`);
    await page.getByRole("button", { name: "Reveal" }).click();
    await page.waitForURL(/\/reauth\?next=%2Fvaults%2Fstep-vault%2Fsecrets%2FAPI_KEY$/);
    assert.equal(await page.getByText("k-7731").count(), 0, "nothing shown before the password");
    await page.getByLabel("Password").fill(GOOD_PASSWORD);
    await page.getByRole("button", { name: "Confirm" }).click();
    await page.waitForURL(`${server.url}/vaults/step-vault/secrets/API_KEY`);
    assert.ok(await page.getByText("Confirmed. You can go on.").isVisible());
    await page.getByRole("button", { name: "Reveal" }).click();
    assert.ok(await page.getByText("k-7731").isVisible());
    assert.deepEqual(guarded.cspViolations(), []);
    guarded.assertNoScriptTrouble();
  });

  it("keeps an admin without two-factor on the enrolment until it is done", {
    timeout: FLOW_TIMEOUT_MS,
  }, async () => {
    const context = await newContext();
    await signInThroughApi(context, server, "adam_admin");
    const guarded = await openPage(context);
    const { page } = guarded;
    await page.goto(`${server.url}/admin/users`);
    await page.waitForURL(`${server.url}/settings`);
    assert.ok(await page.getByText("requires two-factor authentication").isVisible());
    await page.getByRole("button", { name: "Set up two-factor authentication" }).click();
    const secret = (await page.locator("#totp-secret").textContent())?.replace(/\s+/g, "") ?? "";
    assert.match(secret, /^[A-Z2-7]{16,}$/);
    await page
      .getByLabel("The 6-digit code from your app")
      .fill(generateTotpCode(secret, Date.now()));
    await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
    assert.ok(
      await page
        .getByText(/recovery/i)
        .first()
        .isVisible(),
    );
    await page.goto(`${server.url}/admin/users`);
    assert.equal(new URL(page.url()).pathname, "/admin/users", "enrolled: anywhere again");
    assert.deepEqual(guarded.cspViolations(), []);
    guarded.assertNoScriptTrouble();
  });
});

// Account flows through the real pages in Debian's Chromium: two-factor enrolment and sign-in
// with a code and with a recovery code (used once), a password reset through the mail a real
// SMTP server receives, revoking a session from another browser, and XSS payloads in the
// token name and the user agent, shown literally on the settings, admin and audit pages.
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext, Locator, Page } from "playwright-core";
import { SMTPServer } from "smtp-server";
import { generateTotpCode, TOTP_PARAMETERS } from "../../src/accounts/totp.js";
import { GOOD_PASSWORD } from "../helpers/accounts.js";
import type { GuardedPage, TestServer } from "../helpers/browser.js";
import {
  browserSuiteSkip,
  createServerUser,
  launchBrowser,
  openPage,
  saveScreenshot,
  startTestServer,
} from "../helpers/browser.js";

/** Each flow's bound, and each Playwright action's: a hang fails fast instead of stalling. */
const FLOW_TIMEOUT_MS = 60_000;
const ACTION_TIMEOUT_MS = 10_000;
/** How long the reset mail may take to reach the SMTP server (it is sent after the answer). */
const MAIL_WAIT_MS = 10_000;
const STEP_MS = TOTP_PARAMETERS.period * 1000;
const TOTP_LABEL = "Two-factor code (or a recovery code)";
/** A password that passes the policy and differs from GOOD_PASSWORD. */
const NEW_PASSWORD = "amber-glacier-kettle-58-wander";
const TOKEN_NAME_PAYLOAD = "<img src=x onerror=alert(1)>";
const USER_AGENT_PAYLOAD = "<script>alert(2)</script>";
/** Elements that could only be on a page because user text became markup. */
const INJECTED = "main script, main img, main iframe, main object, main svg, main style";

/** Undoes quoted-printable transfer encoding (soft line breaks and `=XX`), as a mail client. */
function decodeQuotedPrintable(text: string): string {
  return text
    .replace(/=\r?\n/g, "")
    .replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/**
 * Forgives the console errors Chromium logs for a navigation answered with `status` (an
 * expected refusal), after checking that every console error is exactly that; any other
 * trouble stays recorded for the flow's final `assertNoScriptTrouble()`.
 */
function forgiveExpectedStatus(guarded: GuardedPage, status: number): void {
  const expected = (text: string): boolean =>
    text.startsWith(`Failed to load resource: the server responded with a status of ${status}`);
  const errors = guarded.consoleErrors();
  assert.ok(errors.length > 0, `Chromium reported the ${status}`);
  assert.deepEqual(
    errors.filter((entry) => !expected(entry.text)),
    [],
    "no console error but the expected refusal",
  );
  const kept = guarded.console.filter((entry) => !(entry.type === "error" && expected(entry.text)));
  guarded.console.length = 0;
  guarded.console.push(...kept);
}

/** Clicks a submit button and waits until the page it leads to (after redirects) has loaded. */
async function submit(page: Page, button: Locator): Promise<void> {
  const navigated = page.waitForEvent("framenavigated", {
    predicate: (frame) => frame === page.mainFrame(),
  });
  await button.click();
  await navigated;
  await page.waitForLoadState("load");
}

/** The header's Sign out button (the sessions table has buttons of the same name). */
function headerSignOut(page: Page): Locator {
  return page.getByRole("navigation", { name: "Main" }).getByRole("button", { name: "Sign out" });
}

describe("account flows in Chromium", { skip: browserSuiteSkip() }, () => {
  let server: TestServer;
  let browser: Browser;
  let smtp: SMTPServer;
  /** Every message the SMTP server accepted, raw (headers and body). */
  const mailbox: string[] = [];
  const contexts: BrowserContext[] = [];

  before(async () => {
    smtp = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      logger: false,
      onData(stream, _session, callback) {
        let data = "";
        stream.on("data", (chunk: Buffer) => {
          data += chunk.toString("utf8");
        });
        stream.on("end", () => {
          mailbox.push(data);
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", () => resolve()));
    const smtpPort = (smtp.server.address() as AddressInfo).port;
    server = await startTestServer({
      SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
      MAIL_FROM: "vault@example.test",
    });
    browser = await launchBrowser();
    await createServerUser(server, { username: "tara_2fa" });
    await createServerUser(server, { username: "rhea_reset" });
    await createServerUser(server, { username: "sam_sessions" });
    await createServerUser(server, { username: "xena_xss" });
    await createServerUser(server, { username: "ada_admin", role: "admin" });
  });

  after(async () => {
    for (const context of contexts) await context.close();
    await browser?.close();
    await server?.stop();
    if (smtp !== undefined) await new Promise<void>((resolve) => smtp.close(() => resolve()));
  });

  /** The first message to `to` that arrived after `since` messages, waiting for it. */
  async function mailTo(to: string, since: number): Promise<string> {
    const deadline = Date.now() + MAIL_WAIT_MS;
    const pattern = new RegExp(`^To: ${to.replace(/[.+]/g, "\\$&")}`, "im");
    for (;;) {
      const raw = mailbox.slice(since).find((message) => pattern.test(message));
      if (raw !== undefined) return decodeQuotedPrintable(raw);
      if (Date.now() > deadline) assert.fail(`no mail to ${to}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async function newContext(
    options: { userAgent?: string; javaScriptEnabled?: boolean } = {},
  ): Promise<BrowserContext> {
    const context = await browser.newContext({
      viewport: { width: 1280, height: 800 },
      ...options,
    });
    context.setDefaultTimeout(ACTION_TIMEOUT_MS);
    context.setDefaultNavigationTimeout(ACTION_TIMEOUT_MS);
    contexts.push(context);
    return context;
  }

  /**
   * Records every request the context's pages send (URL and headers), to show a mailed link's
   * token never reaches the server in a URL or a `Referer` (ASVS 14.2.1).
   */
  function recordRequests(context: BrowserContext): Array<{ url: string; headers: string }> {
    const seen: Array<{ url: string; headers: string }> = [];
    context.on("request", (request) => {
      seen.push({ url: request.url(), headers: JSON.stringify(request.headers()) });
    });
    return seen;
  }

  function assertTokenNeverSent(seen: Array<{ url: string; headers: string }>, token: string) {
    assert.ok(seen.length > 0, "requests were recorded");
    for (const request of seen) {
      assert.ok(!request.url.includes(token), `token in a request URL: ${request.url}`);
      assert.ok(!request.headers.includes(token), `token in a request header: ${request.url}`);
    }
  }

  /** Fills the sign-in form at /login and submits it (the caller checks where it led). */
  async function submitLogin(page: Page, username: string, password: string): Promise<void> {
    await page.goto(`${server.url}/login`);
    await page.getByLabel("Username or e-mail").fill(username);
    await page.getByLabel("Password").fill(password);
    await submit(page, page.getByRole("button", { name: "Sign in" }));
  }

  async function signInWithForm(
    page: Page,
    username: string,
    password = GOOD_PASSWORD,
  ): Promise<void> {
    await submitLogin(page, username, password);
    assert.equal(page.url(), `${server.url}/`, "signed in and sent to the start page");
    assert.ok(await headerSignOut(page).isVisible());
  }

  async function signOut(page: Page): Promise<void> {
    await submit(page, headerSignOut(page));
    assert.equal(new URL(page.url()).pathname, "/login");
    assert.equal(await headerSignOut(page).count(), 0, "signed out");
  }

  /**
   * With two-factor on: the password alone gets the code field (a 401), then the password
   * again with `code`. Returns the status of the second attempt (303 when signed in).
   */
  async function signInWithSecondFactor(
    guarded: GuardedPage,
    username: string,
    code: string,
  ): Promise<number> {
    const { page } = guarded;
    guarded.assertNoScriptTrouble();
    const firstAnswer = page.waitForResponse(
      (r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/login",
    );
    await submitLogin(page, username, GOOD_PASSWORD);
    assert.equal((await firstAnswer).status(), 401);
    assert.ok(
      await page
        .getByText("Enter your password again with a code from your authenticator app.")
        .isVisible(),
    );
    const codeField = page.getByLabel(TOTP_LABEL);
    assert.ok(await codeField.isVisible(), "the form asks for the second factor");
    assert.equal(await page.getByLabel("Password").inputValue(), "", "the password is not kept");
    assert.equal(await page.getByLabel("Username or e-mail").inputValue(), username);
    forgiveExpectedStatus(guarded, 401);

    await page.getByLabel("Password").fill(GOOD_PASSWORD);
    await codeField.fill(code);
    const secondAnswer = page.waitForResponse(
      (r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/login",
    );
    await submit(page, page.getByRole("button", { name: "Sign in" }));
    return (await secondAnswer).status();
  }

  it("enrols two-factor, then signs in with a code and with a recovery code used only once", {
    timeout: FLOW_TIMEOUT_MS,
  }, async () => {
    const guarded = await openPage(await newContext());
    const { page } = guarded;
    await signInWithForm(page, "tara_2fa");

    await page.goto(`${server.url}/settings`);
    await submit(page, page.getByRole("button", { name: "Set up two-factor authentication" }));
    assert.ok(
      await page
        .getByRole("heading", { level: 1, name: "Set up two-factor authentication" })
        .isVisible(),
    );
    assert.ok(
      await page.getByAltText("QR code to add Strongroom to your authenticator app").isVisible(),
    );
    const secret = ((await page.locator("#totp-secret").textContent()) ?? "").trim();
    assert.match(secret, /^[A-Z2-7]{32}$/, "the key is shown as base32 text");

    // Play the authenticator app: the current code proves the key was copied.
    const enrolledAt = Date.now();
    const enrolmentStep = Math.floor(enrolledAt / STEP_MS);
    await page
      .getByLabel("The 6-digit code from your app")
      .fill(generateTotpCode(secret, enrolledAt));
    const confirmed = page.waitForResponse(
      (r) => new URL(r.url()).pathname === "/settings/mfa/confirm",
    );
    await submit(page, page.getByRole("button", { name: "Turn on two-factor authentication" }));
    const confirmation = await confirmed;
    assert.equal(confirmation.status(), 200);
    assert.match(confirmation.headers()["cache-control"] ?? "", /no-store/);
    assert.ok(
      await page.getByRole("heading", { level: 1, name: "Save your recovery codes" }).isVisible(),
    );
    const codes = ((await page.locator("#recovery-codes").textContent()) ?? "")
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line !== "");
    assert.equal(codes.length, 10, "ten recovery codes");
    assert.equal(new Set(codes).size, 10, "all different");
    for (const code of codes) assert.match(code, /^[0-9a-z]{4}(?:-[0-9a-z]{4}){5}$/);
    await saveScreenshot(page, "recovery-codes");
    await signOut(page);

    // A fresh code: the enrolment's step is spent (replay refused), so take a later step.
    // max(next step, current step) is within the server's ±1 step window, since the server's
    // clock is at least at the enrolment step, and it is always later than the spent one.
    const loginStep = Math.max(enrolmentStep + 1, Math.floor(Date.now() / STEP_MS));
    const loginCode = generateTotpCode(secret, loginStep * STEP_MS);
    assert.equal(await signInWithSecondFactor(guarded, "tara_2fa", loginCode), 303);
    assert.equal(page.url(), `${server.url}/`, "signed in with password and code");
    assert.ok(await headerSignOut(page).isVisible());
    await page.goto(`${server.url}/settings`);
    assert.ok(await page.getByText("On: signing in asks for a code").isVisible());
    await signOut(page);

    const [recoveryCode, spareCode] = codes;
    assert.ok(recoveryCode !== undefined && spareCode !== undefined);
    assert.equal(await signInWithSecondFactor(guarded, "tara_2fa", recoveryCode), 303);
    assert.equal(page.url(), `${server.url}/`, "signed in with a recovery code");
    assert.ok(await headerSignOut(page).isVisible());
    await signOut(page);

    // The same recovery code again: refused, the form asks again, no session.
    assert.equal(await signInWithSecondFactor(guarded, "tara_2fa", recoveryCode), 401);
    assert.equal(new URL(page.url()).pathname, "/login");
    assert.ok(await page.getByLabel(TOTP_LABEL).isVisible());
    assert.equal(await headerSignOut(page).count(), 0, "not signed in");
    forgiveExpectedStatus(guarded, 401);
    await page.goto(`${server.url}/settings`);
    assert.equal(new URL(page.url()).pathname, "/login", "no session was made");

    // The refusal was about that code only: an unused one still works.
    assert.equal(await signInWithSecondFactor(guarded, "tara_2fa", spareCode), 303);
    assert.equal(page.url(), `${server.url}/`);
    guarded.assertNoScriptTrouble();
  });

  it("resets a forgotten password with the link mailed through a real SMTP server", {
    timeout: FLOW_TIMEOUT_MS,
  }, async () => {
    const guarded = await openPage(await newContext());
    const { page } = guarded;
    await page.goto(`${server.url}/login`);
    await page.getByRole("link", { name: "Forgot your password?" }).click();
    await page.waitForURL(`${server.url}/forgot-password`);
    await page.getByLabel("E-mail").fill("rhea_reset@example.test");
    const mailsBefore = mailbox.length;
    await submit(page, page.getByRole("button", { name: "Send the link" }));
    assert.ok(await page.getByRole("heading", { level: 1, name: "Check your mail" }).isVisible());

    const deadline = Date.now() + MAIL_WAIT_MS;
    let raw: string | undefined;
    while (raw === undefined && Date.now() < deadline) {
      raw = mailbox
        .slice(mailsBefore)
        .find((message) => /^To: rhea_reset@example\.test/im.test(message));
      if (raw === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(raw !== undefined, "the reset mail reached the SMTP server");
    assert.match(raw, /^From: vault@example\.test/im);
    assert.match(raw, /^Subject: Reset your Strongroom password/im);
    const link = /https?:\/\/[^\s/]+\/reset-password#token=[A-Za-z0-9_-]+/.exec(
      decodeQuotedPrintable(raw),
    )?.[0];
    assert.ok(link !== undefined, `a reset link in the mail:\n${raw}`);
    // PUBLIC_URL's port is 0 in tests: keep the path and fragment, on the real server.
    const { pathname, hash } = new URL(link);
    const token = hash.slice("#token=".length);
    const sent = recordRequests(page.context());
    await page.goto(`${server.url}${pathname}${hash}`);
    assert.ok(
      await page.getByRole("heading", { level: 1, name: "Choose a new password" }).isVisible(),
    );
    assert.equal(await page.getByLabel("Code from the e-mail").isVisible(), false, "filled in");
    await page.waitForURL(`${server.url}/reset-password`);
    assert.ok(!page.url().includes(token), "and dropped from the address bar");
    await page.getByLabel("New password (at least 15 characters)").fill(NEW_PASSWORD);
    await submit(page, page.getByRole("button", { name: "Change password" }));
    assert.equal(new URL(page.url()).pathname, "/login");
    assert.ok(await page.getByText("Password changed. Sign in.").isVisible());
    assertTokenNeverSent(sent, token);

    await signInWithForm(page, "rhea_reset", NEW_PASSWORD);
    await signOut(page);

    // The old password no longer works.
    guarded.assertNoScriptTrouble();
    const answer = page.waitForResponse(
      (r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/login",
    );
    await submitLogin(page, "rhea_reset", GOOD_PASSWORD);
    assert.equal((await answer).status(), 401);
    assert.equal(new URL(page.url()).pathname, "/login");
    assert.ok(await page.getByText("The username or password is wrong.").isVisible());
    assert.equal(await headerSignOut(page).count(), 0, "not signed in");
    forgiveExpectedStatus(guarded, 401);
    guarded.assertNoScriptTrouble();
  });

  it("signs a session out from another browser context", {
    timeout: FLOW_TIMEOUT_MS,
  }, async () => {
    const a = await openPage(await newContext());
    const b = await openPage(await newContext());
    await signInWithForm(a.page, "sam_sessions");
    await signInWithForm(b.page, "sam_sessions");

    await b.page.goto(`${server.url}/settings`);
    await saveScreenshot(b.page, "settings-desktop");
    const rows = b.page.locator("section[aria-labelledby='sessions-heading'] tbody tr");
    assert.equal(await rows.count(), 2, "both browsers' sessions are listed");
    const other = rows.filter({ hasNotText: "(this device)" });
    assert.equal(await other.count(), 1, "exactly one session is not this device");
    await submit(b.page, other.getByRole("button", { name: "Sign out" }));
    assert.equal(b.page.url(), `${server.url}/settings`);
    assert.ok(await b.page.getByText("That session is signed out.").isVisible());
    assert.equal(await rows.count(), 1, "only this device is left");
    assert.match((await rows.first().textContent()) ?? "", /\(this device\)/);

    // A is signed out: its next request goes to the sign-in page.
    await a.page.reload();
    assert.equal(a.page.url(), `${server.url}/login?next=%2F`);
    assert.equal(await headerSignOut(a.page).count(), 0, "A no longer looks signed in");
    await a.page.goto(`${server.url}/settings`);
    assert.equal(new URL(a.page.url()).pathname, "/login");

    // B still is.
    await b.page.reload();
    assert.equal(b.page.url(), `${server.url}/settings`);
    a.assertNoScriptTrouble();
    b.assertNoScriptTrouble();
  });

  it("shows a token name and a user agent carrying markup literally on settings, admin and audit pages", {
    timeout: FLOW_TIMEOUT_MS,
  }, async () => {
    const owner = await openPage(await newContext());
    await signInWithForm(owner.page, "xena_xss");
    await owner.page.getByLabel("Name (a-z, 0-9 and -)").fill("xss-tokens");
    await submit(owner.page, owner.page.getByRole("button", { name: "Create vault" }));
    assert.equal(owner.page.url(), `${server.url}/vaults/xss-tokens`);

    await owner.page.goto(`${server.url}/settings`);
    await owner.page.getByLabel("Name", { exact: true }).fill(TOKEN_NAME_PAYLOAD);
    await owner.page.getByLabel("Vault").selectOption("xss-tokens");
    await submit(owner.page, owner.page.getByRole("button", { name: "Create token" }));
    assert.equal(
      await owner.page
        .locator("section[aria-labelledby='tokens-heading'] .flash.success")
        .textContent(),
      `Token ${TOKEN_NAME_PAYLOAD} created. Copy it now: it will not be shown again.`,
    );

    // Signed in from a browser whose user agent is markup.
    const evil = await openPage(await newContext({ userAgent: USER_AGENT_PAYLOAD }));
    await signInWithForm(evil.page, "xena_xss");

    for (const guarded of [owner, evil]) {
      const { page } = guarded;
      await page.goto(`${server.url}/settings`);
      const sessionCells = page.locator(
        "section[aria-labelledby='sessions-heading'] tbody tr td:first-child",
      );
      const devices = await sessionCells.allTextContents();
      assert.ok(
        devices.some((text) => text.startsWith(USER_AGENT_PAYLOAD)),
        `the user agent shows literally: ${JSON.stringify(devices)}`,
      );
      const tokenRow = page.locator("section[aria-labelledby='tokens-heading'] tbody tr");
      assert.equal(await tokenRow.count(), 1);
      assert.equal(await tokenRow.locator("td").first().textContent(), TOKEN_NAME_PAYLOAD);
      const revoke = tokenRow.getByRole("button", { name: `Revoke ${TOKEN_NAME_PAYLOAD}` });
      assert.equal(await revoke.getAttribute("aria-label"), `Revoke ${TOKEN_NAME_PAYLOAD}`);
      assert.equal(
        await tokenRow.locator("form").getAttribute("data-confirm"),
        `Revoke the API token ${TOKEN_NAME_PAYLOAD}? Programs using it stop working.`,
      );
      assert.equal(await page.locator(INJECTED).count(), 0, "no element came from user text");
      assert.deepEqual(guarded.dialogs, [], "no dialog fired");
      guarded.assertNoScriptTrouble();
    }

    // An administrator's pages, where the user's data is listed too.
    const admin = await openPage(await newContext());
    await signInWithForm(admin.page, "ada_admin");
    await admin.page.goto(`${server.url}/admin/users`);
    assert.ok(await admin.page.getByRole("cell", { name: "xena_xss", exact: true }).isVisible());
    await saveScreenshot(admin.page, "admin-users-desktop");
    assert.equal(await admin.page.locator(INJECTED).count(), 0, "no element came from user text");

    await admin.page.goto(`${server.url}/audit`);
    await admin.page.getByLabel("Actor (username)").fill("xena_xss");
    await admin.page.getByLabel("Action (e.g. login.success)").fill("token.create");
    await submit(admin.page, admin.page.getByRole("button", { name: "Filter" }));
    const details = await admin.page.locator("main tbody tr td:last-child").allTextContents();
    assert.equal(details.length, 1, `one token.create event: ${JSON.stringify(details)}`);
    assert.ok(
      details[0]?.includes(`name: ${TOKEN_NAME_PAYLOAD}`),
      `the token name shows literally in the audit log: ${details[0]}`,
    );
    await admin.page.goto(`${server.url}/audit`);
    await saveScreenshot(admin.page, "audit-desktop");
    const auditText = (await admin.page.locator("main").textContent()) ?? "";
    assert.ok(auditText.includes(TOKEN_NAME_PAYLOAD), "and in the unfiltered log");
    assert.equal(await admin.page.locator(INJECTED).count(), 0, "no element came from user text");
    assert.deepEqual(admin.dialogs, [], "no dialog fired");
    admin.assertNoScriptTrouble();
  });

  it("sign up → confirm from the mailed link → sign in", async () => {
    const guarded = await openPage(await newContext());
    const { page } = guarded;
    await page.goto(`${server.url}/login`);
    await page.getByRole("link", { name: "Create one" }).click();
    await page.waitForURL(`${server.url}/register`);
    await page.getByLabel("Username (4–25 letters, digits or _)").fill("nina_new");
    await page.getByLabel("E-mail").fill("nina_new@example.test");
    await page.getByLabel("Password (at least 15 characters)").fill(GOOD_PASSWORD);
    const mailsBefore = mailbox.length;
    await submit(page, page.getByRole("button", { name: "Create account" }));
    assert.ok(await page.getByRole("heading", { level: 1, name: "Check your mail" }).isVisible());
    const mail = await mailTo("nina_new@example.test", mailsBefore);
    const link = /https?:\/\/[^\s/]+\/register\/confirm#token=[A-Za-z0-9_-]+/.exec(mail)?.[0];
    assert.ok(link !== undefined, `a confirmation link in the mail:\n${mail}`);
    const { pathname, hash } = new URL(link);
    const sent = recordRequests(page.context());
    await page.goto(`${server.url}${pathname}${hash}`);
    await submit(page, page.getByRole("button", { name: "Confirm" }));
    assert.equal(new URL(page.url()).pathname, "/login");
    assert.ok(await page.getByText("Your account is ready. Sign in.").isVisible());
    assertTokenNeverSent(sent, hash.slice("#token=".length));
    await signInWithForm(page, "nina_new", GOOD_PASSWORD);
    assert.ok(await page.getByRole("heading", { level: 1, name: "Your vaults" }).isVisible());
    await saveScreenshot(page, "signed-up-vaults");
    guarded.assertNoScriptTrouble();
  });
  it("without JavaScript, a sign-up is confirmed by pasting the code the mail gives", async () => {
    const context = await newContext({ javaScriptEnabled: false });
    const guarded = await openPage(context);
    const { page } = guarded;
    await page.goto(`${server.url}/register`);
    await page.getByLabel("Username (4–25 letters, digits or _)").fill("omar_nojs");
    await page.getByLabel("E-mail").fill("omar_nojs@example.test");
    await page.getByLabel("Password (at least 15 characters)").fill(GOOD_PASSWORD);
    const mailsBefore = mailbox.length;
    await submit(page, page.getByRole("button", { name: "Create account" }));
    const mail = await mailTo("omar_nojs@example.test", mailsBefore);
    const code = /code, it is: ([A-Za-z0-9_-]+)/.exec(mail)?.[1];
    assert.ok(code !== undefined, `a code in the mail:\n${mail}`);
    const sent = recordRequests(context);
    await page.goto(`${server.url}/register/confirm`);
    await page.getByLabel("Code from the e-mail").fill(code);
    await submit(page, page.getByRole("button", { name: "Confirm" }));
    assert.equal(new URL(page.url()).pathname, "/login");
    assert.ok(await page.getByText("Your account is ready. Sign in.").isVisible());
    assertTokenNeverSent(sent, code);
  });
});

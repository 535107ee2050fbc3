import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { chromium } from "playwright-core";
import { createUser } from "../../src/accounts/registration.service.js";
import type { UserRow } from "../../src/accounts/users.repository.js";
import type { RunningServer } from "../../src/main.js";
import { startServer } from "../../src/main.js";
import { GOOD_PASSWORD } from "./accounts.js";
import { testEnv } from "./app.js";
import { createTestDatabase, databaseUrlOf } from "./databases.js";

/**
 * Debian's Chromium (`apt-get install chromium`). The tests never download a browser: the
 * machines reach no browser CDN, and a pinned system package is what CI installs.
 */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** What a skipped browser suite prints, so a reader knows how to run it. */
export const BROWSER_SKIP_MESSAGE = `Chromium not found at ${CHROMIUM_PATH}: browser tests skipped (install it with \`apt-get install chromium\`)`;

/**
 * Flags for running as root on a closed network: `--no-sandbox` because Chromium refuses to
 * sandbox as root, the rest so Chromium makes no traffic of its own (updates, sync, QUIC
 * probes) that would stall or add noise to the tests.
 */
const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Where `saveScreenshot` writes (gitignored): `test-results/screenshots/` at the repo root. */
export const SCREENSHOT_DIR = fileURLToPath(
  new URL("../../test-results/screenshots/", import.meta.url),
);

/** True when Chromium exists at CHROMIUM_PATH as an executable file. */
export function chromiumAvailable(): boolean {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
    return statSync(CHROMIUM_PATH).isFile();
  } catch {
    return false;
  }
}

/**
 * The `skip` option for a browser suite: `false` (run) when Chromium is there, otherwise
 * BROWSER_SKIP_MESSAGE — except in CI (`CI=true`), where the suite runs anyway so that
 * `launchBrowser` fails it: CI must never pass by skipping the browser tests.
 */
export function browserSuiteSkip(): string | false {
  if (chromiumAvailable() || process.env.CI === "true") return false;
  return BROWSER_SKIP_MESSAGE;
}

/** Starts headless Chromium. Throws (with the install hint) when it is missing. */
export async function launchBrowser(): Promise<Browser> {
  if (!chromiumAvailable()) {
    throw new Error(
      `${CHROMIUM_PATH} is missing and CI=${process.env.CI ?? ""} requires the browser tests to run: install it with \`apt-get install chromium\``,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/** A real Strongroom listening on a loopback port, for a browser to drive. */
export interface TestServer {
  /** Origin without a trailing slash, e.g. `http://127.0.0.1:41234`. */
  url: string;
  server: RunningServer;
  /** Stops the server, closes its database and removes its temp directory. */
  stop(): Promise<void>;
}

/**
 * Starts the whole app in-process through `startServer` (the same path as `strongroom serve`)
 * in a fresh temp directory: SQLite there, strong random keys, open registration, no logs,
 * an OS-chosen port on 127.0.0.1. `env` overrides any of those (e.g. SMTP_URL).
 *
 * PUBLIC_URL stays the default `http://127.0.0.1:0`, since the port is unknown until listening:
 * links in mails carry that origin, so take their path and resolve it against `url`. Browser
 * POSTs still pass the CSRF origin check, which accepts loopback origins outside production.
 */
export async function startTestServer(
  env: Record<string, string | undefined> = {},
): Promise<TestServer> {
  const cwd = mkdtempSync(join(tmpdir(), "strongroom-browser-"));
  const database = await createTestDatabase();
  const server = await startServer(
    testEnv({
      PORT: "0",
      REGISTRATION: "open",
      LOG_LEVEL: "silent",
      DATABASE_URL: databaseUrlOf(database.target),
      ...env,
    }),
    cwd,
  );
  const address = server.app.server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    server,
    stop: async () => {
      try {
        await server.stop();
      } finally {
        rmSync(cwd, { recursive: true, force: true });
        await database.cleanup();
      }
    },
  };
}

/**
 * Creates an active account directly in the test server's database (as `strongroom users
 * create` does), so a browser test can sign in without the e-mail flow. The password defaults
 * to GOOD_PASSWORD, the e-mail to `<username>@example.test`, the role to member.
 */
export async function createServerUser(
  testServer: TestServer,
  input: { username: string; email?: string; password?: string; role?: UserRow["role"] },
): Promise<UserRow> {
  const { server } = testServer;
  return createUser(
    server.database.db,
    { config: server.config, now: () => new Date() },
    {
      username: input.username,
      email: input.email ?? `${input.username.toLowerCase()}@example.test`,
      password: input.password ?? GOOD_PASSWORD,
      role: input.role ?? "member",
    },
    { id: null, name: "test", address: null },
  );
}

/** One console message, as Chromium reported it. */
export interface ConsoleEntry {
  type: string;
  text: string;
  url: string;
}

/** A page plus everything it did that a test must be able to assert never happened. */
export interface GuardedPage {
  page: Page;
  /** Every alert/confirm/prompt/beforeunload dialog, in order (each was dismissed). */
  dialogs: Array<{ type: string; message: string }>;
  /** Every console message (Chromium reports CSP violations and failed loads here). */
  console: ConsoleEntry[];
  /** Uncaught exceptions thrown by the page's scripts. */
  pageErrors: Error[];
  /** Windows the page opened (`window.open`, `target=_blank`). */
  popups: Page[];
  /**
   * Console errors, less the 404 of the `/favicon.ico` Chromium fetches by itself when a page
   * declares no icon: that request is the browser's, not the page's, and says nothing about
   * its scripts or CSP. An icon the page does link to is still checked.
   */
  consoleErrors(): ConsoleEntry[];
  /** Console messages reporting a Content-Security-Policy violation. */
  cspViolations(): ConsoleEntry[];
  /** Throws, listing them, unless no dialog, popup, page error or console error happened. */
  assertNoScriptTrouble(): void;
}

/**
 * Opens a page in `context` that records dialogs, popups, console messages and uncaught
 * errors from the start. Dialogs are dismissed so a payload's `alert()` cannot block the page.
 */
export async function openPage(context: BrowserContext): Promise<GuardedPage> {
  const page = await context.newPage();
  const guarded: GuardedPage = {
    page,
    dialogs: [],
    console: [],
    pageErrors: [],
    popups: [],
    consoleErrors: () =>
      guarded.console.filter(
        (entry) => entry.type === "error" && !isAutomaticFaviconRequest(entry.url),
      ),
    cspViolations: () =>
      guarded.console.filter((entry) => /Content[- ]Security[- ]Policy/i.test(entry.text)),
    assertNoScriptTrouble: () => {
      const trouble = {
        dialogs: guarded.dialogs,
        popups: guarded.popups.map((popup) => popup.url()),
        pageErrors: guarded.pageErrors.map((error) => error.message),
        consoleErrors: guarded.consoleErrors(),
      };
      const found = Object.values(trouble).some((list) => list.length > 0);
      if (found) throw new Error(`the page misbehaved: ${JSON.stringify(trouble, null, 2)}`);
    },
  };
  page.on("dialog", (dialog) => {
    guarded.dialogs.push({ type: dialog.type(), message: dialog.message() });
    dialog.dismiss().catch(() => {});
  });
  page.on("console", (message) => {
    guarded.console.push({
      type: message.type(),
      text: message.text(),
      url: message.location().url,
    });
  });
  page.on("pageerror", (error) => {
    guarded.pageErrors.push(error);
  });
  page.on("popup", (popup) => {
    guarded.popups.push(popup);
  });
  return guarded;
}

function isAutomaticFaviconRequest(url: string): boolean {
  return URL.canParse(url) && new URL(url).pathname === "/favicon.ico";
}

const SCREENSHOT_ATTEMPTS = 3;
const SCREENSHOT_RETRY_DELAY_MS = 250;

/**
 * Saves a full-page PNG as `test-results/screenshots/<name>.png`; returns its path. Headless
 * Chromium now and then refuses one capture with "Unable to capture screenshot" (a compositor
 * frame was not ready, more often on a loaded machine) and takes the same picture a moment
 * later, so that one refusal is retried a few times; any other error, or the same one every
 * time, still fails the test.
 */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  for (let attempt = 1; ; attempt += 1) {
    try {
      await page.screenshot({ path, fullPage: true });
      return path;
    } catch (error) {
      const transient =
        error instanceof Error && /Unable to capture screenshot/.test(error.message);
      if (!transient || attempt >= SCREENSHOT_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, SCREENSHOT_RETRY_DELAY_MS));
    }
  }
}

/**
 * Signs `context` in through the JSON API (its cookie jar is the browser's), for tests whose
 * subject is not the sign-in form. Throws when the server refuses. Returns the CSRF token.
 */
export async function signInThroughApi(
  context: BrowserContext,
  testServer: TestServer,
  username: string,
  password: string = GOOD_PASSWORD,
): Promise<string> {
  const response = await context.request.post(`${testServer.url}/api/v1/auth/login`, {
    data: { username, password },
  });
  if (!response.ok()) {
    throw new Error(`sign-in as ${username} failed: ${response.status()} ${await response.text()}`);
  }
  const body = (await response.json()) as { csrfToken: string };
  return body.csrfToken;
}

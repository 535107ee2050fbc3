// The frame every page shares, in Debian's Chromium: it refuses to be framed (clickjacking),
// loads under the strict CSP without a single console error, fits a phone, and can be used
// from the keyboard. Skipped with a message when Chromium is absent; never skipped in CI.
import assert from "node:assert/strict";
import type { Server } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { Browser, BrowserContext, Response } from "playwright-core";
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

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const CONTROL_TEXT = "This page may be framed";

/**
 * The attacker's site: a page on another origin that frames Strongroom, plus a control frame
 * that has no anti-framing headers, proving the check below would see a page that did render.
 */
async function startFramingSite(target: string): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    response.setHeader("content-type", "text/html; charset=utf-8");
    if (request.url === "/control") {
      response.end(`<!doctype html><title>control</title><p>${CONTROL_TEXT}</p>`);
      return;
    }
    response.end(
      `<!doctype html><title>Win a prize</title>
      <iframe id="target" src="${target}" width="800" height="600"></iframe>
      <iframe id="control" src="/control" width="300" height="200"></iframe>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe("the page frame in Chromium", { skip: browserSuiteSkip() }, () => {
  let strongroom: TestServer | undefined;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];

  before(async () => {
    strongroom = await startTestServer();
    browser = await launchBrowser();
    await createServerUser(strongroom, { username: "frame_owner" });
  });

  after(async () => {
    await browser?.close();
    await strongroom?.stop();
  });

  async function newContext(
    viewport = DESKTOP,
    options: { signedIn?: boolean } = {},
  ): Promise<BrowserContext> {
    assert.ok(browser && strongroom);
    const context = await browser.newContext({
      viewport,
      ...(viewport === PHONE ? { isMobile: true, hasTouch: true } : {}),
    });
    contexts.push(context);
    if (options.signedIn === true) await signInThroughApi(context, strongroom, "frame_owner");
    return context;
  }

  it("refuses to render inside another site's frame, even for a signed-in visitor", async () => {
    assert.ok(strongroom);
    // Signed in, so a rendered frame would show the vault list an attacker wants clicked on;
    // the attacker is on another port of the same host, so SameSite=Strict cookies still go.
    const context = await newContext(DESKTOP, { signedIn: true });
    const framing = await startFramingSite(`${strongroom.url}/`);
    try {
      const guarded = await openPage(context);
      const strongroomResponses: Response[] = [];
      guarded.page.on("response", (response) => {
        if (response.url().startsWith(`${strongroom?.url}/`)) strongroomResponses.push(response);
      });
      await guarded.page.goto(`${framing.url}/`, { waitUntil: "load" });

      const control = await (await guarded.page.$("#control"))?.contentFrame();
      assert.ok(control);
      assert.match((await control.locator("body").textContent()) ?? "", new RegExp(CONTROL_TEXT));

      const target = await (await guarded.page.$("#target"))?.contentFrame();
      assert.ok(target, "the iframe element exists");
      // Chromium replaces a frame it refused with its own error page.
      assert.match(target.url(), /^chrome-error:\/\//);
      // biome-ignore lint/performance/useDomNodeTextContent: what the victim would see, not the error page's hidden templates
      const framedText = await target.locator("body").innerText();
      assert.doesNotMatch(framedText, /Strongroom|Sign in|Vaults|frame_owner/i);
      assert.equal(await target.locator("form, input, a[href^='/']").count(), 0);

      // The refusal came from our headers, on every response the frame received.
      assert.ok(strongroomResponses.length > 0, "the frame did request Strongroom");
      for (const response of strongroomResponses) {
        const headers = response.headers();
        assert.equal(headers["x-frame-options"], "DENY", response.url());
        assert.match(headers["content-security-policy"] ?? "", /frame-ancestors 'none'/);
      }
      assert.ok(
        guarded.cspViolations().some((entry) => /frame-ancestors 'none'/.test(entry.text)),
        JSON.stringify(guarded.console),
      );
      assert.deepEqual(guarded.dialogs, []);
    } finally {
      await context.close();
      await new Promise((resolve) => framing.server.close(resolve));
    }
  });

  for (const visitor of ["anonymous", "signed-in"] as const) {
    for (const [size, viewport] of [
      ["desktop", DESKTOP],
      ["phone", PHONE],
    ] as const) {
      it(`renders the start page for ${visitor === "anonymous" ? "an anonymous" : "a signed-in"} visitor on a ${size} with no console error or CSP violation`, async () => {
        assert.ok(strongroom);
        const context = await newContext(viewport, { signedIn: visitor === "signed-in" });
        try {
          const guarded = await openPage(context);
          const response = await guarded.page.goto(`${strongroom.url}/`, { waitUntil: "load" });
          assert.equal(response?.status(), 200, response?.url());
          // The stylesheet applied (a failed or CSP-blocked load leaves default styles).
          const stylesheets = await guarded.page.evaluate(() => document.styleSheets.length);
          assert.ok(stylesheets > 0);
          assert.equal(await guarded.page.locator("h1").count(), 1, "one top-level heading");

          await saveScreenshot(guarded.page, `start-${visitor}-${size}`);
          assert.deepEqual(guarded.cspViolations(), []);
          guarded.assertNoScriptTrouble();
          // Readable on a phone: nothing forces sideways scrolling.
          const overflow = await guarded.page.evaluate(
            () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
          );
          assert.ok(overflow <= 0, `the page is ${overflow}px wider than the ${size} viewport`);
        } finally {
          await context.close();
        }
      });
    }
  }

  it("moves focus to a visible link with a visible focus indicator on the first Tab", async () => {
    assert.ok(strongroom);
    const context = await newContext();
    try {
      const guarded = await openPage(context);
      await guarded.page.goto(`${strongroom.url}/`, { waitUntil: "load" });
      await guarded.page.keyboard.press("Tab");

      const focused = guarded.page.locator(":focus");
      assert.equal(await focused.count(), 1, "something has focus");
      const info = await focused.evaluate((element) => {
        const style = getComputedStyle(element);
        const box = element.getBoundingClientRect();
        return {
          tag: element.tagName,
          href: element.getAttribute("href"),
          text: (element.textContent ?? "").trim(),
          box: { top: box.top, left: box.left, width: box.width, height: box.height },
          indicator:
            (style.outlineStyle !== "none" && Number.parseFloat(style.outlineWidth) > 0) ||
            style.boxShadow !== "none",
        };
      });
      assert.equal(info.tag, "A", JSON.stringify(info));
      assert.ok(info.href !== null && info.href !== "", "the link goes somewhere");
      assert.ok(info.text !== "", "the link has a name");
      assert.ok(await focused.isVisible(), "the focused link is visible");
      // Inside the viewport: a skip link parked off-screen must come into view on focus.
      assert.ok(
        info.box.width > 1 &&
          info.box.height > 1 &&
          info.box.left >= 0 &&
          info.box.top >= 0 &&
          info.box.left + info.box.width <= DESKTOP.width &&
          info.box.top + info.box.height <= DESKTOP.height,
        `the focused link is on screen: ${JSON.stringify(info.box)}`,
      );
      assert.ok(info.indicator, "the focused link shows a focus outline or ring");
      guarded.assertNoScriptTrouble();
    } finally {
      await context.close();
    }
  });

  it("can be used from the keyboard alone: sign in, then reach the new-vault form", async () => {
    assert.ok(browser && strongroom);
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    contexts.push(context);
    const guarded = await openPage(context);
    const { page } = guarded;
    await page.goto(`${strongroom.url}/login`);
    // Tab until the username field has focus (skip link, brand, …), then type and move on.
    for (
      let i = 0;
      i < 10 && (await page.evaluate(() => document.activeElement?.id)) !== "field-username";
      i++
    )
      await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "field-username");
    await page.keyboard.type("frame_owner");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.id), "field-password");
    await page.keyboard.type(GOOD_PASSWORD);
    await Promise.all([page.waitForURL(`${strongroom.url}/`), page.keyboard.press("Enter")]);
    for (
      let i = 0;
      i < 20 && (await page.evaluate(() => document.activeElement?.id)) !== "field-slug";
      i++
    )
      await page.keyboard.press("Tab");
    assert.equal(
      await page.evaluate(() => document.activeElement?.id),
      "field-slug",
      "the form is reachable by Tab",
    );
    guarded.assertNoScriptTrouble();
  });
});

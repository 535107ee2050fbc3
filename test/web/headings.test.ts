// Every page has exactly one h1, and headings never skip a level (h2 → h4), so screen-reader
// users can navigate by headings.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { asSession, createTestUser, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
let cookie = "";
before(async () => {
  t = await createTestApp({ env: { REGISTRATION: "open" } });
  await createTestUser(t, { username: "heading_admin", role: "admin" });
  const session = await signIn(t, "heading_admin");
  cookie = session.cookie;
  await t.app.inject({
    method: "POST",
    url: "/api/v1/vaults",
    headers: asSession(session),
    payload: { slug: "heading-vault" },
  });
  await t.app.inject({
    method: "PUT",
    url: "/api/v1/vaults/heading-vault/secrets/H_SECRET",
    headers: asSession(session),
    payload: { value: "v" },
  });
});
after(async () => {
  await t.close();
});

function headingLevels(html: string): number[] {
  return [...html.matchAll(/<h([1-6])[\s>]/g)].map((m) => Number(m[1]));
}

describe("heading order", () => {
  const pages: Array<[string, boolean]> = [
    ["/login", false],
    ["/register", false],
    ["/forgot-password", false],
    ["/", true],
    ["/vaults/heading-vault", true],
    ["/vaults/heading-vault/secrets/H_SECRET", true],
    ["/settings", true],
    ["/admin/users", true],
    ["/audit", true],
    ["/docs", true],
  ];
  for (const [url, signedIn] of pages) {
    it(`${url}: one h1 first, no skipped levels`, async () => {
      const response = await t.app.inject({
        url,
        headers: { accept: "text/html", ...(signedIn ? { cookie } : {}) },
      });
      assert.equal(response.statusCode, 200, url);
      const levels = headingLevels(response.body);
      assert.equal(levels[0], 1, `${url} starts with h1: ${levels.join(",")}`);
      assert.equal(levels.filter((level) => level === 1).length, 1, `${url} has one h1`);
      for (let i = 1; i < levels.length; i++) {
        assert.ok(
          (levels[i] ?? 0) <= (levels[i - 1] ?? 0) + 1,
          `${url}: h${levels[i - 1]} → h${levels[i]}`,
        );
      }
    });
  }
});

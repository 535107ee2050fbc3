/**
 * Plain HTTP: only pages people open in a browser are redirected to https. The server itself
 * never redirects (the proxy does), and the proxy configuration in docs/deployment.md
 * refuses API and metrics calls over plain HTTP instead of redirecting them, so a client
 * that leaked its token in clear text fails at once rather than silently carrying on.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { TestApp } from "./helpers/app.js";
import { createTestApp } from "./helpers/app.js";

const DEPLOYMENT = join(import.meta.dirname, "..", "docs", "deployment.md");

/** The body of each `server { … }` block in the documented nginx configuration. */
function nginxServerBlocks(markdown: string): string[] {
  const config = /```nginx\n([\s\S]*?)```/.exec(markdown)?.[1];
  assert.ok(config, "docs/deployment.md has an nginx example");
  const blocks: string[] = [];
  for (const start of config.matchAll(/^server\s*\{/gm)) {
    let depth = 0;
    let end = start.index;
    for (; end < config.length; end++) {
      if (config[end] === "{") depth++;
      if (config[end] === "}" && --depth === 0) break;
    }
    blocks.push(config.slice(start.index, end + 1));
  }
  return blocks;
}

/** Each `location … { … }` of a server block: its match and its body, comments removed. */
function locations(block: string): Array<{ match: string; body: string }> {
  const code = block.replace(/#[^\n]*/g, "");
  return [...code.matchAll(/location\s+([^{]+?)\s*\{([^}]*)\}/g)].map((m) => ({
    match: (m[1] ?? "").trim(),
    body: (m[2] ?? "").trim(),
  }));
}

describe("the documented proxy on plain HTTP", () => {
  const blocks = nginxServerBlocks(readFileSync(DEPLOYMENT, "utf8"));
  const plain = blocks.find((block) => /^\s*listen 80;/m.test(block));
  const tls = blocks.find((block) => /^\s*listen 443 ssl;/m.test(block));

  it("has an HTTPS server that proxies everything and a plain-HTTP one that proxies nothing", () => {
    assert.ok(tls, "a listen 443 ssl server");
    assert.ok(plain, "a listen 80 server");
    assert.doesNotMatch(plain, /proxy_pass/, "plain HTTP never reaches an instance");
  });

  it("refuses /api/ and /metrics with 403 rather than redirecting them", () => {
    const routes = locations(plain ?? "");
    for (const match of ["^~ /api/", "= /metrics"]) {
      const location = routes.find((route) => route.match === match);
      assert.ok(location, `a location ${match}`);
      assert.match(location.body, /^return 403;$/, `${match} is refused`);
    }
    assert.doesNotMatch(
      (plain ?? "").replace(/location\s+\/\s*\{[^}]*\}/, ""),
      /return 30\d/,
      "the only redirect is the catch-all for pages",
    );
  });

  it("redirects every other path (the pages) to https, permanently", () => {
    const catchAll = locations(plain ?? "").find((route) => route.match === "/");
    assert.ok(catchAll, "a location /");
    assert.equal(catchAll.body, "return 301 https://$host$request_uri;");
  });
});

describe("the server on plain HTTP", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      env: { PUBLIC_URL: "https://strongroom.test", TRUST_PROXY: "127.0.0.1" },
    });
  });
  after(async () => {
    await t.close();
  });

  it("never redirects a request that arrived over http to https itself", async () => {
    const overHttp = { "x-forwarded-proto": "http", "x-forwarded-host": "strongroom.test" };
    for (const request of [
      { method: "GET" as const, url: "/api/v1/vaults" },
      {
        method: "POST" as const,
        url: "/api/v1/auth/login",
        payload: { username: "x", password: "y" },
      },
      { method: "GET" as const, url: "/login", headers: { accept: "text/html" } },
      { method: "GET" as const, url: "/healthz" },
    ]) {
      const response = await t.app.inject({
        ...request,
        headers: { ...overHttp, ...request.headers },
      });
      const location = String(response.headers.location ?? "");
      assert.ok(
        !location.startsWith("https:"),
        `${request.method} ${request.url}: ${response.statusCode} → ${location}`,
      );
      assert.ok(response.statusCode < 300 || response.statusCode >= 400, request.url);
      assert.equal(response.headers["strict-transport-security"], undefined, "no HSTS over http");
    }
  });
});

/**
 * Header audit: every page and API route, answered over a real socket as if over https (the
 * scheme comes from a trusted proxy's X-Forwarded-Proto, as behind nginx), is
 * scored with the Mozilla HTTP Observatory's rules (test/helpers/observatory.ts) and must
 * get A+ — signed in and signed out, on success and on error answers alike, and the sign-in
 * answer that sets the session cookie.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { asSession, createTestUser, type SignedIn, signIn } from "../helpers/accounts.js";
import { createTestApp, type TestApp } from "../helpers/app.js";
import { type ObservatoryResult, scoreResponse } from "../helpers/observatory.js";

const ORIGIN = "https://strongroom.test";
const VIA_PROXY = { "x-forwarded-proto": "https", "x-forwarded-host": "strongroom.test" };

/** Stand-ins for path parameters, naming things that exist. */
const SAMPLES: Record<string, string> = {
  vault: "audited",
  name: "KEY",
  n: "1",
  username: "observer",
  id: "00000000-0000-0000-0000-000000000000",
};

/** `METHOD /path` for every registered route, from Fastify's route tree. */
function registeredRoutes(app: FastifyInstance): Array<{ method: string; url: string }> {
  const routes: Array<{ method: string; url: string }> = [];
  const stack: Array<{ depth: number; path: string }> = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split("\n")) {
    const match = /^([│ ]*)[└├]── (\S+) \(([A-Z, ]+)\)$/.exec(line);
    if (match === null) continue;
    const depth = (match[1] ?? "").length / 4;
    while ((stack.at(-1)?.depth ?? -1) >= depth) stack.pop();
    const parent = stack.at(-1)?.path ?? "";
    const segment = match[2] ?? "";
    const path =
      parent === ""
        ? segment
        : parent.endsWith("/")
          ? `${parent}${segment}`
          : `${parent}${segment}`;
    stack.push({ depth, path });
    const url = path
      .replace(/:([a-z]+)/gi, (_, name: string) => SAMPLES[name] ?? name)
      .replace(/\*$/, "no-such-page");
    for (const method of (match[3] ?? "").split(", ")) routes.push({ method, url });
  }
  return routes;
}

/** A response as the scorer reads it, received over a real socket. */
interface Received {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: string;
}

/** Sends one request to the listening server (no redirects followed) and reads it whole. */
async function send(
  base: string,
  request: { method: string; url: string; headers: Record<string, string>; payload?: unknown },
): Promise<Received> {
  const hasBody = request.payload !== undefined;
  const response = await fetch(`${base}${request.url}`, {
    method: request.method,
    redirect: "manual",
    headers: { ...request.headers, ...(hasBody ? { "content-type": "application/json" } : {}) },
    ...(hasBody ? { body: JSON.stringify(request.payload) } : {}),
  });
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
  return { statusCode: response.status, headers, body: await response.text() };
}

function describeFailure(label: string, result: ObservatoryResult): string {
  const lines = result.modifiers
    .filter((m) => m.modifier !== 0)
    .map((m) => `${m.modifier > 0 ? "+" : ""}${m.modifier} ${m.result}`);
  return `${label}: ${result.score} (${result.grade}) ${lines.join(", ")}`;
}

describe("the Observatory's rules, as implemented here", () => {
  it("score a site without security headers as F and a hardened one as A+", () => {
    const bare = scoreResponse(
      { headers: { "content-type": "text/html" }, body: "<p>hi</p>" },
      { https: true, origin: ORIGIN },
    );
    // CSP −25, HSTS −20, nosniff −5, XFO −20, X-XSS-Protection −10: 20.
    assert.equal(bare.score, 20);
    assert.equal(bare.grade, "F");
    const hardened = scoreResponse(
      {
        headers: {
          "content-type": "text/html",
          "content-security-policy":
            "default-src 'none'; script-src 'self'; frame-ancestors 'none'",
          "strict-transport-security": "max-age=63072000",
          "x-content-type-options": "nosniff",
          "referrer-policy": "no-referrer",
          "set-cookie": ["__Host-s=1; Path=/; Secure; HttpOnly; SameSite=Lax"],
        },
        body: '<script src="/app.js" integrity="sha384-x"></script>',
      },
      { https: true, origin: ORIGIN },
    );
    // 100 + CSP 10 + cookies 5 + referrer 5 + SRI 5 + XFO via CSP 5.
    assert.equal(hardened.score, 130);
    assert.equal(hardened.grade, "A+");
  });

  it("punish the mistakes the rules name", () => {
    const score = (headers: Record<string, string | string[]>, https = true) =>
      scoreResponse(
        {
          headers: {
            "content-security-policy": "default-src 'self'; frame-ancestors 'none'",
            "strict-transport-security": "max-age=63072000",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            ...headers,
          },
          body: "",
        },
        { https, origin: ORIGIN },
      ).score;
    assert.equal(score({}), 115);
    // Unsafe CSP −20; it no longer forbids framing (XFO −20) nor replaces X-XSS-Protection (−10).
    assert.equal(score({ "content-security-policy": "default-src 'self' 'unsafe-inline'" }), 50);
    // −10 leaves 90, so the three bonuses still count.
    assert.equal(score({ "strict-transport-security": "max-age=600" }), 105);
    // HSTS protects a cookie without Secure somewhat (−10); HttpOnly missing costs 30.
    assert.equal(score({ "set-cookie": ["session=1; Path=/; HttpOnly; SameSite=Lax"] }), 105);
    assert.equal(score({ "set-cookie": ["session=1; Path=/; Secure; SameSite=Lax"] }), 70);
    assert.equal(score({ "access-control-allow-origin": "*" }), 50);
    assert.equal(score({ "referrer-policy": "unsafe-url" }), 105);
    assert.equal(score({}, false), 80);
  });
});

describe("header audit of every route over https", () => {
  let t: TestApp;
  let session: SignedIn;
  /** The app listening on a loopback port: every audited answer comes over a real socket. */
  let base: string;
  before(async () => {
    t = await createTestApp({ env: { PUBLIC_URL: ORIGIN, TRUST_PROXY: "127.0.0.1" } });
    base = await t.app.listen({ port: 0, host: "127.0.0.1" });
    await createTestUser(t, { username: "observer" });
    session = await signIn(t, "observer");
    const headers = { ...asSession(session), ...VIA_PROXY, origin: ORIGIN };
    for (const request of [
      { method: "POST" as const, url: "/api/v1/vaults", payload: { slug: "audited" } },
      {
        method: "PUT" as const,
        url: "/api/v1/vaults/audited/secrets/KEY",
        payload: { value: "v" },
      },
    ]) {
      const response = await t.app.inject({ ...request, headers });
      assert.ok(response.statusCode < 300, response.body);
    }
  });
  after(async () => {
    await t.close();
  });

  it("gives A+ to the sign-in answer that sets the session cookie", async () => {
    const response = await send(base, {
      method: "POST",
      url: "/api/v1/auth/login",
      headers: { ...VIA_PROXY, origin: ORIGIN },
      payload: { username: "observer", password: "violet-lantern-orbit-29-quartz" },
    });
    assert.equal(response.statusCode, 200);
    assert.ok(response.headers["set-cookie"]);
    const result = scoreResponse(response, { https: true, origin: ORIGIN });
    assert.equal(
      result.modifiers.find((m) => m.test === "cookies")?.result,
      "cookies-secure-with-httponly-sessions-and-samesite",
    );
    assert.ok(result.score >= 100, describeFailure("POST /api/v1/auth/login", result));
  });

  it("gives A+ to every route, signed in and signed out", async () => {
    const routes = registeredRoutes(t.app);
    assert.ok(routes.length > 60, `only ${routes.length} routes found`);
    const failures: string[] = [];
    for (const { method, url } of routes) {
      for (const signedIn of [true, false]) {
        // Unsafe requests go without the CSRF token: they are refused and change nothing,
        // and a refusal must carry the same headers as a success.
        const response = await send(base, {
          method,
          url,
          headers: {
            ...VIA_PROXY,
            accept: url.startsWith("/api/") ? "application/json" : "text/html",
            ...(signedIn ? { cookie: session.cookie } : {}),
          },
          ...(method === "GET" || method === "HEAD" ? {} : { payload: {} }),
        });
        const result = scoreResponse(response, { https: true, origin: ORIGIN });
        const label = `${method} ${url} ${signedIn ? "signed in" : "signed out"} → ${response.statusCode}`;
        if (result.score < 100) failures.push(describeFailure(label, result));
      }
    }
    assert.deepEqual(failures, []);
    // The walk changed nothing: the session and the secret are still there.
    const still = await t.app.inject({
      method: "GET",
      url: "/api/v1/vaults/audited/secrets/KEY",
      headers: { cookie: session.cookie, ...VIA_PROXY },
    });
    assert.equal(still.statusCode, 200);
  });
});

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, it } from "node:test";
import helmet from "@fastify/helmet";
import Fastify from "fastify";
import { z } from "zod";
import { staticSecurityHeaders } from "../src/http/security-headers.js";
import type { ZodTypeProvider } from "../src/http/zod.js";
import type { TestApp } from "./helpers/app.js";
import { createTestApp } from "./helpers/app.js";

let t: TestApp;
/** What the echo route received, so tests can prove a refused request changed nothing. */
const received: unknown[] = [];

before(async () => {
  t = await createTestApp({
    routes: (app) => {
      const routes = app.withTypeProvider<ZodTypeProvider>();
      routes.post(
        "/api/v1/test/echo",
        {
          schema: {
            body: z.object({
              username: z.string().min(4).max(25).regex(/^\w+$/),
              count: z.number().int().max(10),
              nested: z.unknown().optional(),
            }),
            response: { 200: z.object({ username: z.string() }) },
          },
        },
        async (request) => {
          received.push(request.body);
          return { username: request.body.username, password: "never-leaves" } as {
            username: string;
          };
        },
      );
      app.get("/api/v1/test/boom", async () => {
        throw new Error("SELECT secret FROM internals at /srv/app/src/db.ts:12");
      });
    },
  });
});
after(async () => {
  await t.close();
});

const REQUIRED = {
  "content-security-policy": /default-src 'self'/,
  "x-frame-options": /^DENY$/,
  "x-content-type-options": /^nosniff$/,
  "referrer-policy": /^no-referrer$/,
  "permissions-policy": /camera=\(\)/,
  "cross-origin-opener-policy": /^same-origin$/,
  "cross-origin-resource-policy": /^same-origin$/,
  "x-xss-protection": /^0$/,
  "x-request-id": /^[0-9a-f-]{36}$/,
};

function assertSecurityHeaders(headers: Record<string, unknown>, label: string): void {
  for (const [name, pattern] of Object.entries(REQUIRED)) {
    assert.match(String(headers[name] ?? ""), pattern, `${label}: ${name}`);
  }
  assert.equal(headers["x-powered-by"], undefined, `${label}: no X-Powered-By`);
  assert.equal(headers.server, undefined, `${label}: no Server`);
  assert.equal(
    headers["strict-transport-security"],
    undefined,
    `${label}: no HSTS over plain http`,
  );
}

describe("security headers", () => {
  it("are on pages, JSON, errors, 404s, 405s and static files alike", async () => {
    const cases = [
      { method: "GET", url: "/", headers: { accept: "text/html" } },
      { method: "GET", url: "/healthz" },
      { method: "GET", url: "/api/v1/nope" },
      { method: "GET", url: "/nope", headers: { accept: "text/html" } },
      { method: "GET", url: "/api/v1/test/boom" },
      { method: "TRACE", url: "/" },
      {
        method: "POST",
        url: "/api/v1/test/echo",
        payload: "{bad",
        headers: { "content-type": "application/json" },
      },
      { method: "GET", url: "/static/app.css" },
    ] as const;
    for (const request of cases) {
      const response = await t.app.inject(request);
      assertSecurityHeaders(
        response.headers,
        `${request.method} ${request.url} (${response.statusCode})`,
      );
    }
  });

  it("are exactly the ones helmet sends for the same settings", async () => {
    for (const upgradeInsecureRequests of [false, true]) {
      const reference = Fastify();
      await reference.register(helmet, {
        global: true,
        contentSecurityPolicy: {
          useDefaults: false,
          directives: {
            defaultSrc: ["'self'"],
            scriptSrc: ["'self'"],
            styleSrc: ["'self'"],
            imgSrc: ["'self'", "data:"],
            fontSrc: ["'self'"],
            connectSrc: ["'self'"],
            objectSrc: ["'none'"],
            baseUri: ["'none'"],
            frameAncestors: ["'none'"],
            formAction: ["'self'"],
            ...(upgradeInsecureRequests ? { upgradeInsecureRequests: [] } : {}),
          },
        },
        strictTransportSecurity: false,
        frameguard: { action: "deny" },
        referrerPolicy: { policy: "no-referrer" },
        crossOriginOpenerPolicy: { policy: "same-origin" },
        crossOriginResourcePolicy: { policy: "same-origin" },
        crossOriginEmbedderPolicy: { policy: "require-corp" },
        xXssProtection: true,
      });
      reference.get("/", async () => ({ ok: true }));
      const sent = (await reference.inject({ url: "/" })).headers;
      await reference.close();
      const fromHelmet = Object.fromEntries(
        Object.entries(sent).filter(
          ([name]) =>
            !["content-type", "content-length", "date", "connection", "keep-alive"].includes(name),
        ),
      );
      const ours = Object.fromEntries(
        staticSecurityHeaders({ upgradeInsecureRequests }).map(([name, value]) => [
          name.toLowerCase(),
          value,
        ]),
      );
      assert.deepEqual(ours, fromHelmet, `upgradeInsecureRequests: ${upgradeInsecureRequests}`);
    }
    // And the app sends them all.
    const response = await t.app.inject({ url: "/healthz" });
    for (const [name, value] of staticSecurityHeaders({ upgradeInsecureRequests: false })) {
      assert.equal(response.headers[name.toLowerCase()], value, name);
    }
  });

  it("have a strict CSP with no unsafe sources", async () => {
    const csp = String((await t.app.inject({ url: "/" })).headers["content-security-policy"]);
    for (const directive of [
      "default-src 'self'",
      "object-src 'none'",
      "base-uri 'none'",
      "frame-ancestors 'none'",
      "form-action 'self'",
      "script-src 'self'",
      "style-src 'self'",
    ]) {
      assert.ok(csp.includes(directive), directive);
    }
    assert.ok(!csp.includes("unsafe-inline") && !csp.includes("unsafe-eval"));
  });

  it("mark responses no-store unless a route opts in to caching", async () => {
    assert.equal((await t.app.inject({ url: "/healthz" })).headers["cache-control"], "no-store");
    assert.equal(
      (await t.app.inject({ url: "/api/v1/nope" })).headers["cache-control"],
      "no-store",
    );
    assert.equal(
      (await t.app.inject({ url: "/static/app.css" })).headers["cache-control"],
      "no-cache",
    );
    const page = await t.app.inject({ url: "/login", headers: { accept: "text/html" } });
    const versioned = /href="(\/static\/app\.css\?v=[0-9a-f]{16})"/.exec(page.body)?.[1];
    assert.ok(versioned, "pages link assets by content hash");
    const cached = await t.app.inject({ url: versioned });
    assert.equal(cached.statusCode, 200);
    assert.equal(cached.headers["cache-control"], "public, max-age=31536000, immutable");
    const stale = await t.app.inject({ url: "/static/app.css?v=0000000000000000" });
    assert.equal(stale.headers["cache-control"], "no-cache", "a stale hash is not cached");
  });

  it("generate request ids and ignore client-supplied ones", async () => {
    const response = await t.app.inject({
      url: "/healthz",
      headers: { "x-request-id": "forged\nid" },
    });
    assert.notEqual(response.headers["x-request-id"], "forged\nid");
  });
});

describe("error responses", () => {
  const problem = (body: string): Record<string, unknown> =>
    JSON.parse(body) as Record<string, unknown>;

  it("unknown API routes give 404 problem+json", async () => {
    const response = await t.app.inject({ url: "/api/v1/does-not-exist" });
    assert.equal(response.statusCode, 404);
    assert.match(String(response.headers["content-type"]), /^application\/problem\+json/);
    const body = problem(response.body);
    assert.equal(body.status, 404);
    assert.equal(body.title, "Not found");
    assert.match(String(body.type), /not-found$/);
  });

  it("URLs the router refuses give problem+json with the usual headers, never quoting the URL", async () => {
    const cases = [
      { url: "/api/v1/vaults/%ZZ", status: 400, code: "bad-request" },
      { url: "/api/v1/vaults/%C0%AF/secrets", status: 400, code: "bad-request" },
      { url: `/api/v1/vaults/${"a".repeat(300)}`, status: 414, code: "uri-too-long" },
    ];
    for (const { url, status, code } of cases) {
      const response = await t.app.inject({ url });
      assert.equal(response.statusCode, status, url);
      assert.match(String(response.headers["content-type"]), /^application\/problem\+json/);
      const body = problem(response.body);
      assert.equal(body.type, `/docs/errors#${code}`);
      assert.equal(body.status, status);
      assert.equal(body.requestId, response.headers["x-request-id"]);
      assert.doesNotMatch(response.body, /%ZZ|%C0|aaaa|FST_ERR/);
      assertSecurityHeaders(response.headers, url);
    }
    const page = await t.app.inject({ url: "/vaults/%ZZ", headers: { accept: "text/html" } });
    assert.equal(page.statusCode, 400);
    assert.match(String(page.headers["content-type"]), /^text\/html/);
  });

  it("HTML routes get a plain error page", async () => {
    const response = await t.app.inject({ url: "/no-such-page", headers: { accept: "text/html" } });
    assert.equal(response.statusCode, 404);
    assert.match(String(response.headers["content-type"]), /^text\/html/);
    assert.match(response.body, /^<!doctype html>/);
    assert.match(response.body, /Not found/);
  });

  it("validation errors list every invalid field, and the handler never runs", async () => {
    const before = received.length;
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/test/echo",
      payload: { username: "a!", count: "many" },
    });
    assert.equal(response.statusCode, 400);
    const body = problem(response.body);
    assert.match(String(body.type), /validation-failed$/);
    const errors = body.errors as Array<{ path: string; message: string }>;
    assert.deepEqual([...new Set(errors.map((e) => e.path))].sort(), [
      "body.count",
      "body.username",
    ]);
    assert.ok(errors.every((e) => e.message.length > 0));
    assert.equal(received.length, before);
  });

  it("responses carry only the fields their schema lists", async () => {
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/test/echo",
      payload: { username: "alice", count: 1 },
    });
    assert.equal(response.statusCode, 200);
    assert.deepEqual(JSON.parse(response.body), { username: "alice" });
  });

  it("malformed JSON gives 400 without quoting the body", async () => {
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/test/echo",
      payload: '{"username": "hunter2-secret", ',
      headers: { "content-type": "application/json" },
    });
    assert.equal(response.statusCode, 400);
    assert.ok(!response.body.includes("hunter2"));
    assert.match(String(problem(response.body).type), /bad-request$/);
  });

  it("an empty JSON body gives 400", async () => {
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/test/echo",
      payload: "",
      headers: { "content-type": "application/json" },
    });
    assert.equal(response.statusCode, 400);
  });

  it("a wrong content type gives 415", async () => {
    const before = received.length;
    for (const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/json; charset=latin1",
    ]) {
      const response = await t.app.inject({
        method: "POST",
        url: "/api/v1/test/echo",
        payload: "username=alice&count=1",
        headers: { "content-type": type },
      });
      assert.equal(response.statusCode, 415, type);
      assert.match(String(problem(response.body).type), /unsupported-media-type$/);
    }
    assert.equal(received.length, before);
  });

  it("a compressed (or otherwise encoded) body gives 415, not a guess at its bytes", async () => {
    const before = received.length;
    for (const encoding of ["gzip", "deflate", "br", "x-anything"]) {
      const response = await t.app.inject({
        method: "POST",
        url: "/api/v1/test/echo",
        payload: JSON.stringify({ username: "alice", count: 1 }),
        headers: { "content-type": "application/json", "content-encoding": encoding },
      });
      assert.equal(response.statusCode, 415, encoding);
      assert.match(String(problem(response.body).type), /unsupported-media-type$/);
      assert.match(String(problem(response.body).detail), /Content-Encoding/);
    }
    assert.equal(received.length, before);
    const identity = await t.app.inject({
      method: "POST",
      url: "/api/v1/test/echo",
      payload: JSON.stringify({ username: "alice", count: 1 }),
      headers: { "content-type": "application/json", "content-encoding": "identity" },
    });
    assert.equal(identity.statusCode, 200, identity.body);
  });

  it("an oversized body gives 413", async () => {
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/test/echo",
      payload: JSON.stringify({ username: "alice", count: 1, nested: "x".repeat(200 * 1024) }),
      headers: { "content-type": "application/json" },
    });
    assert.equal(response.statusCode, 413);
    assert.match(String(problem(response.body).type), /payload-too-large$/);
  });

  it("deeply nested JSON gives 400 before parsing", async () => {
    const deep = `${"[".repeat(10_000)}${"]".repeat(10_000)}`;
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/test/echo",
      payload: deep,
      headers: { "content-type": "application/json" },
    });
    assert.equal(response.statusCode, 400);
    assert.match(String(problem(response.body).detail), /nested/);
  });

  it("prototype-pollution keys are refused", async () => {
    for (const payload of [
      '{"username":"alice","count":1,"__proto__":{"admin":true}}',
      '{"username":"alice","count":1,"constructor":{"prototype":{"admin":true}}}',
    ]) {
      const response = await t.app.inject({
        method: "POST",
        url: "/api/v1/test/echo",
        payload,
        headers: { "content-type": "application/json" },
      });
      assert.equal(response.statusCode, 400, payload);
    }
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });

  it("TRACE and other unsupported methods give 405 with Allow", async () => {
    for (const method of ["TRACE", "OPTIONS"] as const) {
      const response = await t.app.inject({ method, url: "/", headers: { cookie: "session=abc" } });
      assert.equal(response.statusCode, 405, method);
      assert.match(String(response.headers.allow), /GET/);
      assert.ok(!response.body.includes("session=abc"));
    }
  });

  it("5xx carry a request id and no internals; the log has the details", async () => {
    const response = await t.app.inject({ url: "/api/v1/test/boom" });
    assert.equal(response.statusCode, 500);
    const body = problem(response.body);
    assert.equal(body.requestId, response.headers["x-request-id"]);
    for (const leak of ["SELECT", "/srv/app", "db.ts", "internals", "stack"])
      assert.ok(!response.body.includes(leak), leak);
    const logged = t.logs.find(
      (line) => line.includes(String(body.requestId)) && line.includes("SELECT secret"),
    );
    assert.ok(logged, "the 5xx is logged with its request id");
  });
});

describe("static files", () => {
  it("serves assets and refuses path traversal", async () => {
    assert.equal((await t.app.inject({ url: "/static/app.css" })).statusCode, 200);
    for (const url of [
      "/static/../package.json",
      "/static/..%2f..%2fpackage.json",
      "/static/%2e%2e/%2e%2e/package.json",
      "/static/..%5c..%5cpackage.json",
      "/static/....//....//package.json",
      "/static/%252e%252e/package.json",
      "/static/.env",
      "/static/",
      "/static/../../../../etc/passwd",
    ]) {
      const response = await t.app.inject({ url });
      assert.ok([400, 403, 404].includes(response.statusCode), `${url} → ${response.statusCode}`);
      assert.ok(
        !response.body.includes('"name": "strongroom"') && !response.body.includes("root:"),
        url,
      );
    }
  });
});

describe("protocol edges", () => {
  it("sends no CORS headers, whatever Origin a request claims", async () => {
    for (const request of [
      { method: "GET" as const, url: "/api/v1/me" },
      { method: "GET" as const, url: "/healthz" },
      { method: "OPTIONS" as const, url: "/api/v1/auth/login" },
    ]) {
      const response = await t.app.inject({
        ...request,
        headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
      });
      const corsHeaders = Object.keys(response.headers).filter((name) =>
        name.startsWith("access-control-"),
      );
      assert.deepEqual(corsHeaders, [], `${request.method} ${request.url}`);
    }
  });

  it("names UTF-8 in the Content-Type of pages and JSON", async () => {
    const page = await t.app.inject({ url: "/login", headers: { accept: "text/html" } });
    assert.match(String(page.headers["content-type"]), /^text\/html; charset=utf-8$/i);
    const json = await t.app.inject({ url: "/healthz" });
    assert.match(String(json.headers["content-type"]), /^application\/json; charset=utf-8$/i);
    const problem = await t.app.inject({ url: "/api/v1/nope" });
    assert.match(
      String(problem.headers["content-type"]),
      /^application\/problem\+json; charset=utf-8$/i,
    );
  });

  it("serves no source control metadata", async () => {
    for (const url of ["/.git/config", "/.git/HEAD", "/static/.git/config", "/.svn/entries"]) {
      const response = await t.app.inject({ url });
      assert.ok([403, 404].includes(response.statusCode), `${url} → ${response.statusCode}`);
      assert.doesNotMatch(response.body, /\[core\]|ref: refs/, url);
    }
  });

  it("refuses a request framed by both Content-Length and Transfer-Encoding (smuggling)", async () => {
    await t.app.listen({ port: 0, host: "127.0.0.1" });
    const address = t.app.server.address();
    assert.ok(address !== null && typeof address === "object");
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(address.port, "127.0.0.1", () => {
        socket.write(
          "POST /api/v1/test/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
            "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        );
      });
      let text = "";
      socket.on("data", (chunk: Buffer) => {
        text += chunk.toString("latin1");
      });
      socket.on("close", () => resolve(text));
      socket.on("error", reject);
      socket.setTimeout(2000, () => socket.end());
    });
    assert.match(answer, /^HTTP\/1\.1 400 /);
    assert.equal(answer.match(/HTTP\/1\.1 /g)?.length, 1, "the smuggled request got no answer");
  });

  it("answers what the HTTP parser refuses with problem+json, not the framework's JSON", async () => {
    if (!t.app.server.listening) await t.app.listen({ port: 0, host: "127.0.0.1" });
    const address = t.app.server.address();
    assert.ok(address !== null && typeof address === "object");
    const exchange = (bytes: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = connect(address.port, "127.0.0.1", () => socket.write(bytes));
        let text = "";
        socket.on("data", (chunk: Buffer) => {
          text += chunk.toString("latin1");
        });
        socket.on("close", () => resolve(text));
        socket.on("error", reject);
        socket.setTimeout(2000, () => socket.end());
      });
    const cases: Array<[string, number, string]> = [
      // A body after a GET that frames none: the bytes parse as a broken second request.
      ["GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n[[[[]]]]", 400, "bad-request"],
      ["GET /\u0000 HTTP/1.1\r\n\r\n", 400, "bad-request"],
      [
        `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`,
        431,
        "request-header-fields-too-large",
      ],
    ];
    for (const [bytes, status, code] of cases) {
      const answer = await exchange(bytes);
      const last = answer.lastIndexOf("HTTP/1.1 ");
      const [head = "", body = ""] = answer.slice(last).split("\r\n\r\n");
      assert.match(head, new RegExp(`^HTTP/1\\.1 ${status} `), JSON.stringify(bytes.slice(0, 40)));
      assert.match(head, /\r\ncontent-type: application\/problem\+json; charset=utf-8\r\n/i);
      const problem = JSON.parse(body) as Record<string, unknown>;
      assert.equal(problem.type, `/docs/errors#${code}`);
      assert.equal(problem.status, status);
      assert.equal(typeof problem.title, "string");
      assert.equal(typeof problem.requestId, "string");
    }
  });
});

import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { createLogger, redactSensitive, redactUrl } from "../src/logger.js";
import type { TestApp } from "./helpers/app.js";
import { createTestApp } from "./helpers/app.js";

const SECRETS = [
  "hunter2-password",
  "sr_tokenvalue123",
  "cookie-session-abc",
  "bearer-xyz-789",
  "super-secret-value",
  "k3y-material",
  "csrf-abc-123",
  "reset-tok-456",
];

describe("log redaction", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({
      env: { LOG_LEVEL: "trace" },
      routes: (app) => {
        app.post("/api/v1/test/log", async (request) => {
          // A careless handler that logs what it was sent: redaction must still hold.
          request.log.info({ body: request.body, headers: request.headers }, "careless log line");
          throw new Error("failure while handling");
        });
      },
    });
  });
  after(async () => {
    await t.close();
  });

  it("a request carrying credentials, tokens, cookies, secrets and keys logs none of them", async () => {
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/test/log?token=reset-tok-456&page=2",
      headers: {
        cookie: "session=cookie-session-abc",
        "x-csrf-token": "csrf-abc-123",
        "content-type": "application/json",
      },
      payload: {
        password: "hunter2-password",
        token: "sr_tokenvalue123",
        secret: "x",
        value: "super-secret-value",
        key: "k3y-material",
        nested: { newPassword: "hunter2-password" },
      },
    });
    assert.equal(response.statusCode, 500);
    // An Authorization header is refused before any handler runs (401); it is not logged either.
    const bearer = await t.app.inject({
      method: "POST",
      url: "/api/v1/test/log",
      headers: { authorization: "Bearer bearer-xyz-789", "content-type": "application/json" },
      payload: { password: "hunter2-password" },
    });
    assert.equal(bearer.statusCode, 401);
    const all = t.logs.join("\n");
    assert.ok(all.includes("careless log line"), "the line was logged");
    assert.ok(all.includes("page=2"), "harmless query parameters are kept");
    for (const secret of SECRETS) assert.ok(!all.includes(secret), `log leaked ${secret}`);
  });
});

describe("redaction helpers", () => {
  it("redact sensitive keys at any depth and keep the rest", () => {
    const redacted = redactSensitive({
      user: "alice",
      password: "p",
      deep: { list: [{ apiKey: "k", name: "n" }] },
      statusCode: 200,
    });
    assert.deepEqual(redacted, {
      user: "alice",
      password: "[redacted]",
      deep: { list: [{ apiKey: "[redacted]", name: "n" }] },
      statusCode: 200,
    });
  });

  it("redact sensitive query parameters", () => {
    assert.equal(redactUrl("/reset?token=abc&next=%2F"), "/reset?token=%5Bredacted%5D&next=%2F");
    assert.equal(redactUrl("/plain/path"), "/plain/path");
  });

  it("a logger writing to a stream redacts authorization headers", () => {
    const lines: string[] = [];
    const logger = createLogger({
      level: "info",
      pretty: false,
      destination: new Writable({
        write(chunk: Buffer, _e, cb) {
          lines.push(chunk.toString());
          cb();
        },
      }),
    });
    logger.info({ headers: { authorization: "Bearer sr_abc", cookie: "s=1" } }, "x");
    assert.ok(!lines.join("").includes("sr_abc"));
    assert.ok(!lines.join("").includes("s=1"));
  });
});

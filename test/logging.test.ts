import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { createLogger, redactSensitive, redactUrl } from "../src/logger.js";
import { GOOD_PASSWORD } from "./helpers/accounts.js";
import type { TestApp } from "./helpers/app.js";
import { createTestApp } from "./helpers/app.js";
import { runCli, startCli } from "./helpers/process.js";

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

describe("log and audit times", () => {
  /** A zone that is never UTC (UTC−5 or UTC−4), so local-time formatting would show. */
  const ZONE = "America/New_York";
  const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
  /** Within ten minutes of the real time: a local time read as UTC is four or five hours off. */
  const assertNow = (ms: number, what: string): void =>
    assert.ok(Math.abs(ms - Date.now()) < 10 * 60_000, `${what} is not the current UTC time`);

  it(`are UTC whatever the process's TZ (server and CLI under TZ=${ZONE})`, async () => {
    const offset = execFileSync(
      process.execPath,
      ["-e", "process.stdout.write(String(new Date().getTimezoneOffset()))"],
      { env: { TZ: ZONE }, encoding: "utf8" },
    );
    assert.notEqual(Number(offset), 0, "the zone really is not UTC in a child process");

    const cwd = mkdtempSync(join(tmpdir(), "strongroom-tz-"));
    const env = { NODE_ENV: "development", PORT: "0", LOG_LEVEL: "info", TZ: ZONE };
    const server = startCli(["serve"], env, cwd);
    try {
      const [, url] = await server.waitFor(/serving at (http:\/\/127\.0\.0\.1:\d+)/);
      // An audit event written by the CLI process, under the same zone.
      const created = await runCli(
        [
          "users",
          "create",
          "tz_auditor",
          "--email=tz@example.test",
          "--role=admin",
          "--password-stdin",
        ],
        env,
        cwd,
        GOOD_PASSWORD,
      );
      assert.equal(created.code, 0, created.stderr);
      // And some written by the server: a failed and a successful sign-in.
      const login = (password: string): Promise<Response> =>
        fetch(`${url}/api/v1/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ username: "tz_auditor", password }),
        });
      assert.equal((await login("not-the-password-at-all-1")).status, 401);
      const signedIn = await login(GOOD_PASSWORD);
      assert.equal(signedIn.status, 200);
      const cookie = (signedIn.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
      const audit = await fetch(`${url}/api/v1/audit?limit=50`, { headers: { cookie } });
      assert.equal(audit.status, 200);
      const { events } = (await audit.json()) as { events: Array<{ action: string; at: string }> };
      const actions = events.map((event) => event.action);
      assert.ok(actions.includes("user.create"), `the CLI's event: ${actions.join(", ")}`);
      assert.ok(actions.filter((action) => action.startsWith("login.")).length >= 2, "sign-ins");
      for (const event of events) {
        assert.match(event.at, ISO_UTC, `${event.action} at ${event.at}`);
        assertNow(Date.parse(event.at), `${event.action} at ${event.at}`);
      }
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }

    const lines = server
      .stdout()
      .split("\n")
      .filter((line) => line.startsWith("{"));
    assert.ok(lines.length >= 3, "the server wrote JSON log lines");
    for (const line of lines) {
      // pino writes epoch milliseconds; an ISO time would have to say Z.
      const { time } = JSON.parse(line) as { time: unknown };
      if (typeof time === "string") assert.match(time, ISO_UTC, `time in ${line}`);
      else assert.equal(typeof time, "number", `time in ${line}`);
      assertNow(typeof time === "string" ? Date.parse(time) : (time as number), `log ${line}`);
    }
  });
});

describe("log injection", () => {
  /** A line break, a carriage return, a Unicode line separator, ANSI escapes and a forged line. */
  const HOSTILE = 'x\r\n{"level":50,"msg":"FORGED"}\u2028\u001b[31m\u001b[2K\rvisible\u0007';
  const FORGED_MESSAGE = "FORGED";

  /** Every line is one JSON object; no raw control character survives; nothing was forged. */
  function parseLogLines(lines: string[]): Array<Record<string, unknown>> {
    return lines.map((line) => {
      // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
      assert.doesNotMatch(line, /[\u0000-\u001f\u007f]/, `a raw control character in ${line}`);
      const record = JSON.parse(line) as Record<string, unknown>;
      assert.equal(typeof record, "object");
      assert.notEqual(record.msg, FORGED_MESSAGE, `a forged line: ${line}`);
      return record;
    });
  }

  it("the logger writes a hostile value as one JSON line that reads back unchanged", () => {
    const chunks: string[] = [];
    const logger = createLogger({
      level: "info",
      pretty: false,
      destination: new Writable({
        write(chunk: Buffer, _e, cb) {
          chunks.push(chunk.toString("utf8"));
          cb();
        },
      }),
    });
    logger.warn(
      { req: { method: "GET", url: `/p/${HOSTILE}` }, username: HOSTILE, userAgent: HOSTILE },
      `refused ${HOSTILE}`,
    );
    const text = chunks.join("");
    assert.equal(text.split("\n").length, 2, "one line, ended by one line feed");
    const [record] = parseLogLines(text.split("\n").filter(Boolean));
    assert.ok(record);
    assert.equal((record.req as { url: string }).url, `/p/${HOSTILE}`, "escaped, not dropped");
    assert.equal(record.username, HOSTILE);
    assert.equal(record.userAgent, HOSTILE);
    assert.equal(record.msg, `refused ${HOSTILE}`);
  });

  let t: TestApp;
  before(async () => {
    t = await createTestApp({ env: { LOG_LEVEL: "info" } });
  });
  after(async () => {
    await t.close();
  });

  it("a request with CR/LF and ANSI escapes in its URL, User-Agent and username logs only its own well-formed lines", async () => {
    const encoded = encodeURIComponent(HOSTILE);
    const requests = [
      // Percent-encoded, as a client must send them, in the path and in the query.
      { method: "GET" as const, url: `/api/v1/vaults/${encoded}?q=${encoded}` },
      // Raw, as a hostile client might try (the HTTP layer normalises what it can).
      { method: "GET" as const, url: `/vaults/${HOSTILE}?next=${HOSTILE}` },
      // A failed sign-in whose username is the hostile text (JSON decodes \r\n into the string).
      {
        method: "POST" as const,
        url: "/api/v1/auth/login",
        payload: { username: HOSTILE, password: "not-the-password-at-all-1" },
      },
      { method: "GET" as const, url: "/login", headers: { accept: "text/html" } },
    ];
    const before = t.logs.length;
    for (const request of requests) {
      const response = await t.app.inject({
        ...request,
        headers: { ...request.headers, "user-agent": `curl/8 ${HOSTILE}` },
      });
      assert.ok(response.statusCode < 500, `${request.url}: ${response.statusCode}`);
    }
    const records = parseLogLines(t.logs.slice(before));
    const byRequest = new Map<unknown, string[]>();
    for (const record of records) {
      assert.ok(typeof record.reqId === "string", `a line outside any request: ${record.msg}`);
      byRequest.set(record.reqId, [...(byRequest.get(record.reqId) ?? []), String(record.msg)]);
    }
    assert.equal(byRequest.size, requests.length, "one set of lines per request");
    for (const messages of byRequest.values()) {
      assert.equal(messages[0], "incoming request");
      assert.equal(messages.at(-1), "request completed");
      assert.ok(messages.length <= 3, messages.join(", "));
    }
  });
});

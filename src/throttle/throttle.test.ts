import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:net";
import { Writable } from "node:stream";
import { after, afterEach, before, describe, it, mock } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import type { Logger } from "pino";
import pino from "pino";
import type { TestRedisServer } from "../../test/helpers/redis-server.js";
import { isRedisServerInstalled, startRedisServer } from "../../test/helpers/redis-server.js";
import { describeRedisUrl, reconnectDelayMs } from "./redis-connection.js";
import type { LimitRule, ThrottleDecision, ThrottleStore } from "./throttle.js";
import { createThrottleStore } from "./throttle.js";

const REDIS_URL = process.env.TEST_REDIS_URL;
const REDIS_SKIPPED = "TEST_REDIS_URL not set: Redis throttle tests skipped";
const OUTAGE_SKIPPED = REDIS_URL
  ? isRedisServerInstalled()
    ? false
    : "redis-server not installed: Redis outage tests skipped"
  : "TEST_REDIS_URL not set: Redis outage tests skipped";

/** A pino logger whose JSON lines a test can read back. */
interface CapturedLogger {
  logger: Logger;
  lines(): Array<{ level: number; msg: string; [field: string]: unknown }>;
  text(): string;
}

function captureLogger(): CapturedLogger {
  const raw: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      raw.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  return {
    logger: pino({ level: "debug" }, stream),
    lines: () => raw.map((line) => JSON.parse(line) as { level: number; msg: string }),
    text: () => raw.join("\n"),
  };
}

const WARN = 40;
const INFO = 30;

const silent = pino({ level: "silent" });

function rule(overrides: Partial<LimitRule> = {}): LimitRule {
  return { name: "login-account", points: 3, durationSeconds: 60, blockSeconds: 0, ...overrides };
}

/** Consumes `times` single attempts and returns every decision. */
async function consumeTimes(
  limiter: { consume(key: string): Promise<ThrottleDecision> },
  key: string,
  times: number,
): Promise<ThrottleDecision[]> {
  const decisions: ThrottleDecision[] = [];
  for (let i = 0; i < times; i++) decisions.push(await limiter.consume(key));
  return decisions;
}

function retryAfter(decision: ThrottleDecision): number {
  assert.equal(decision.allowed, false, "expected a denial");
  if (decision.allowed) throw new Error("unreachable");
  assert.ok(Number.isInteger(decision.retryAfterSeconds), "retryAfterSeconds is whole");
  assert.ok(decision.retryAfterSeconds >= 1, "retryAfterSeconds is at least 1");
  return decision.retryAfterSeconds;
}

async function waitUntil(
  condition: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A loopback port nothing listens on (released at once; fine for a connect that must fail). */
async function closedPort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("throttle store in memory", () => {
  let store: ThrottleStore;
  before(() => {
    // RateLimiterMemory reads Date.now() and expires records with setTimeout.
    mock.timers.enable({ apis: ["Date", "setTimeout"], now: 1_700_000_000_000 });
    store = createThrottleStore({ redisUrl: null, logger: silent });
  });
  after(async () => {
    await store.close();
    mock.timers.reset();
  });

  it("is the memory backend without a Redis URL", () => {
    assert.equal(store.backend, "memory");
    assert.equal(store.redisConnected(), null);
  });

  it("allows `points` attempts, then denies until the window ends", async () => {
    const limiter = store.limiter(rule({ name: "window", points: 3, durationSeconds: 60 }));
    const decisions = await consumeTimes(limiter, "alice", 3);
    assert.deepEqual(decisions, [
      { allowed: true, remaining: 2 },
      { allowed: true, remaining: 1 },
      { allowed: true, remaining: 0 },
    ]);
    assert.equal(retryAfter(await limiter.consume("alice")), 60);
    mock.timers.tick(59_500);
    assert.equal(retryAfter(await limiter.consume("alice")), 1, "0.5 s left rounds up to 1");
    mock.timers.tick(600);
    assert.deepEqual(await limiter.consume("alice"), { allowed: true, remaining: 2 });
  });

  it("blocks for blockSeconds from the attempt that used the last point", async () => {
    const limiter = store.limiter(
      rule({ name: "blocking", points: 2, durationSeconds: 60, blockSeconds: 300 }),
    );
    await consumeTimes(limiter, "bob", 2);
    // Blocked already, so a caller that only peeks before each try is also locked out.
    assert.equal(retryAfter(await limiter.peek("bob")), 300);
    assert.equal(retryAfter(await limiter.consume("bob")), 300);
    mock.timers.tick(120_000);
    // Attempts during the block do not extend it.
    assert.equal(retryAfter(await limiter.consume("bob")), 180);
    mock.timers.tick(179_000);
    assert.equal(retryAfter(await limiter.peek("bob")), 1);
    mock.timers.tick(1_001);
    assert.deepEqual(await limiter.peek("bob"), { allowed: true, remaining: 2 });
    assert.deepEqual(await limiter.consume("bob"), { allowed: true, remaining: 1 });
  });

  it("blocks also when a multi-point attempt jumps past the last point", async () => {
    const limiter = store.limiter(
      rule({ name: "jump", points: 5, durationSeconds: 60, blockSeconds: 600 }),
    );
    assert.deepEqual(await limiter.consume("carol", 4), { allowed: true, remaining: 1 });
    assert.equal(retryAfter(await limiter.consume("carol", 2)), 600);
  });

  it("reset forgets every attempt", async () => {
    const limiter = store.limiter(rule({ name: "reset", points: 2, blockSeconds: 900 }));
    await consumeTimes(limiter, "dave", 3);
    assert.equal((await limiter.peek("dave")).allowed, false);
    await limiter.reset("dave");
    assert.deepEqual(await limiter.peek("dave"), { allowed: true, remaining: 2 });
    assert.deepEqual(await limiter.consume("dave"), { allowed: true, remaining: 1 });
    await limiter.reset("never-seen");
  });

  it("peek does not count an attempt", async () => {
    const limiter = store.limiter(rule({ name: "peek", points: 3 }));
    assert.deepEqual(await limiter.peek("erin"), { allowed: true, remaining: 3 });
    await limiter.consume("erin");
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await limiter.peek("erin"), { allowed: true, remaining: 2 });
    }
    assert.deepEqual(await limiter.consume("erin"), { allowed: true, remaining: 1 });
  });

  it("keys with ':', newlines, case, unicode or lone surrogates never share a count", async () => {
    const limiter = store.limiter(rule({ name: "keys", points: 1 }));
    const other = store.limiter(rule({ name: "keys-2", points: 1 }));
    const keys = [
      "a:b",
      "a",
      "b",
      "a:b:",
      ":a:b",
      "alice",
      "alice\n",
      "alice\r\nDEL *",
      "Alice",
      "ålice",
      "a\u030Alice",
      "🔑",
      "\uD800",
      "\uDC00",
      "\uFFFD",
      "",
      "x".repeat(10_000),
    ];
    for (const key of keys) {
      assert.deepEqual(await limiter.consume(key), { allowed: true, remaining: 0 }, `first ${key}`);
    }
    for (const key of keys) {
      assert.equal((await limiter.consume(key)).allowed, false, `second ${JSON.stringify(key)}`);
      // The same key under another rule is a different count.
      assert.deepEqual(await other.peek(key), { allowed: true, remaining: 1 });
    }
  });

  it("returns the same limiter for the same rule and refuses a conflicting one", async () => {
    const first = store.limiter(rule({ name: "shared", points: 2 }));
    const second = store.limiter(rule({ name: "shared", points: 2 }));
    assert.equal(first, second);
    assert.throws(() => store.limiter(rule({ name: "shared", points: 3 })), RangeError);
  });

  it("refuses malformed rules and point counts", async () => {
    for (const bad of [
      rule({ name: "" }),
      rule({ name: "has:colon" }),
      rule({ name: "new\nline" }),
      rule({ points: 0 }),
      rule({ points: 1.5 }),
      rule({ durationSeconds: 0 }),
      rule({ blockSeconds: -1 }),
      rule({ blockSeconds: Number.NaN }),
    ]) {
      assert.throws(() => store.limiter(bad), RangeError, JSON.stringify(bad));
    }
    const limiter = store.limiter(rule({ name: "points" }));
    await assert.rejects(limiter.consume("k", 0), RangeError);
    await assert.rejects(limiter.consume("k", 2.5), RangeError);
    assert.throws(
      () => createThrottleStore({ redisUrl: null, logger: silent, keyPrefix: "bad prefix" }),
      RangeError,
    );
  });
});

describe("redis connection helpers", () => {
  it("describes a Redis URL without its credentials", () => {
    const described = describeRedisUrl("redis://user:s3cret@redis.internal:6380/2");
    assert.ok(!described.includes("s3cret") && !described.includes("user"), described);
    assert.ok(described.includes("redis.internal:6380"));
  });

  it("backs off between reconnects, bounded, and never gives up", () => {
    const delays = Array.from({ length: 50 }, (_, i) => reconnectDelayMs(i + 1));
    assert.ok(delays.every((delay) => Number.isFinite(delay) && delay > 0));
    assert.ok((delays[0] ?? 0) < 200, "first retry is quick");
    assert.ok(
      delays.every((delay) => delay <= 2_200),
      "no delay above the bound plus jitter",
    );
    assert.ok((delays[49] ?? 0) >= 2_000, "later retries wait the full bound");
  });

  it("logs an unreachable Redis once, without the URL's password, and still answers", async () => {
    const captured = captureLogger();
    const port = await closedPort();
    const store = createThrottleStore({
      redisUrl: `redis://throttle-user:s3cret-pw@127.0.0.1:${port}`,
      logger: captured.logger,
      keyPrefix: `t${randomBytes(6).toString("hex")}`,
    });
    try {
      assert.equal(store.backend, "redis");
      const limiter = store.limiter(rule({ points: 4 }));
      // Fallback: ceil(4 / 2) = 2 attempts on this instance.
      const decisions = await consumeTimes(limiter, "alice", 3);
      assert.deepEqual(
        decisions.map((decision) => decision.allowed),
        [true, true, false],
      );
      await waitUntil(() => captured.lines().some((line) => line.level === WARN), "warning");
      assert.equal(store.redisConnected(), false);
      await sleep(800); // several reconnect attempts fail meanwhile
      assert.equal(captured.lines().filter((line) => line.level === WARN).length, 1);
      assert.ok(!captured.text().includes("s3cret-pw"), captured.text());
      assert.ok(captured.text().includes(`127.0.0.1:${port}`), "the log names the server");
    } finally {
      await store.close();
    }
  });
});

describe("throttle store on Redis", { skip: REDIS_URL ? false : REDIS_SKIPPED }, () => {
  // A random prefix per run, so runs (and parallel test files) never see each other's counts.
  const keyPrefix = `test-throttle-${randomBytes(6).toString("hex")}`;
  let a: ThrottleStore;
  let b: ThrottleStore;
  before(() => {
    a = createThrottleStore({ redisUrl: REDIS_URL ?? null, logger: silent, keyPrefix });
    b = createThrottleStore({ redisUrl: REDIS_URL ?? null, logger: silent, keyPrefix });
  });
  after(async () => {
    const admin = new Redis(REDIS_URL ?? "");
    const keys = await admin.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
    await a.close();
    await b.close();
  });

  it("shares counts between two stores (two instances)", async () => {
    assert.equal(a.backend, "redis");
    const shared = rule({ name: "shared", points: 5, durationSeconds: 60 });
    const onA = a.limiter(shared);
    const onB = b.limiter(shared);
    const fromA = await consumeTimes(onA, "alice", 3);
    const fromB = await consumeTimes(onB, "alice", 2);
    assert.deepEqual(
      [...fromA, ...fromB].map((decision) => decision.allowed && decision.remaining),
      [4, 3, 2, 1, 0],
    );
    const denied = retryAfter(await onA.consume("alice"));
    assert.ok(denied >= 59 && denied <= 60, `retry after ${denied}`);
    assert.equal((await onB.peek("alice")).allowed, false);
    // Reset on one instance is in force on the other.
    await onB.reset("alice");
    assert.deepEqual(await onA.peek("alice"), { allowed: true, remaining: 5 });
  });

  it("blocks for blockSeconds on every instance", async () => {
    const blocking = rule({ name: "blocking", points: 2, durationSeconds: 30, blockSeconds: 600 });
    await consumeTimes(a.limiter(blocking), "bob", 2);
    for (const decision of [
      await b.limiter(blocking).peek("bob"),
      await b.limiter(blocking).consume("bob"),
      await a.limiter(blocking).consume("bob"),
    ]) {
      const seconds = retryAfter(decision);
      assert.ok(seconds >= 599 && seconds <= 600, `retry after ${seconds}`);
    }
  });

  it("peek does not count", async () => {
    const limiter = a.limiter(rule({ name: "peek", points: 2 }));
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await limiter.peek("carol"), { allowed: true, remaining: 2 });
    }
    assert.deepEqual(await limiter.consume("carol"), { allowed: true, remaining: 1 });
    assert.deepEqual(await limiter.peek("carol"), { allowed: true, remaining: 1 });
  });

  it("stores only hashed keys: user input never reaches a Redis key", async () => {
    const limiter = a.limiter(rule({ name: "keys", points: 1 }));
    const keys = ["a:b", "a", "b:", "x\r\nFLUSHALL\r\n", "dave*", "🔑", "\uD800", "\uDC00"];
    for (const key of keys)
      assert.deepEqual(await limiter.consume(key), { allowed: true, remaining: 0 });
    for (const key of keys)
      assert.equal(
        (await b.limiter(rule({ name: "keys", points: 1 })).consume(key)).allowed,
        false,
      );
    const admin = new Redis(REDIS_URL ?? "");
    try {
      const stored = await admin.keys(`${keyPrefix}:keys:*`);
      assert.equal(stored.length, keys.length);
      for (const storedKey of stored) {
        assert.match(storedKey, new RegExp(`^${keyPrefix}:keys:[A-Za-z0-9_-]{43}$`));
      }
    } finally {
      await admin.quit();
    }
  });
});

describe("throttle store through a Redis outage", { skip: OUTAGE_SKIPPED }, () => {
  let server: TestRedisServer;
  let store: ThrottleStore | null = null;
  before(async () => {
    server = await startRedisServer();
  });
  afterEach(async () => {
    await store?.close();
    store = null;
  });
  after(async () => {
    await server.stop();
  });

  it("answers from a stricter in-process limit, logs once, and returns to Redis", async () => {
    const captured = captureLogger();
    const warnings = (): number => captured.lines().filter((line) => line.level === WARN).length;
    const infos = (): number =>
      captured.lines().filter((line) => line.level === INFO && /again/.test(line.msg)).length;
    const keyPrefix = `outage-${randomBytes(6).toString("hex")}`;
    store = createThrottleStore({ redisUrl: server.url, logger: captured.logger, keyPrefix });
    const limit = rule({ name: "outage", points: 5, durationSeconds: 60 });
    const limiter = store.limiter(limit);
    // No waiting for the connection: the first decision waits for it and comes from Redis.
    assert.deepEqual(await limiter.consume("before"), { allowed: true, remaining: 4 });
    assert.equal(store.redisConnected(), true);

    await server.stop();
    const started = Date.now();
    const during = await consumeTimes(limiter, "during", 5);
    assert.ok(Date.now() - started < 2_000, "decisions do not wait on the dead server");
    // Fails closed: ceil(5 / 2) = 3 attempts on this instance, not 5 and not 0.
    assert.deepEqual(
      during.map((decision) => decision.allowed),
      [true, true, true, false, false],
    );
    assert.equal((await limiter.peek("during")).allowed, false);
    await limiter.reset("someone");
    await sleep(1_000); // reconnect attempts keep failing meanwhile
    assert.equal(warnings(), 1, captured.text());
    assert.equal(infos(), 0);
    assert.equal(store.redisConnected(), false);

    await server.start(); // empty: the restarted server has no counts
    await waitUntil(() => infos() === 1, "the recovery line");
    assert.equal(store.redisConnected(), true);
    // Five attempts allowed again: the count is Redis's, not the fallback's three.
    const again = await consumeTimes(limiter, "after", 5);
    assert.deepEqual(
      again.map((decision) => decision.allowed && decision.remaining),
      [4, 3, 2, 1, 0],
    );
    // And it is shared: a second instance on the same Redis sees it.
    const other = createThrottleStore({ redisUrl: server.url, logger: silent, keyPrefix });
    try {
      assert.equal((await other.limiter(limit).peek("after")).allowed, false);
    } finally {
      await other.close();
    }
    assert.equal(warnings(), 1);
    assert.equal(infos(), 1);
  });

  it("closes while Redis is down", async () => {
    store = createThrottleStore({ redisUrl: server.url, logger: silent });
    await server.stop();
    await sleep(300);
    await store.close();
    store = null;
    await server.start();
  });
});

describe("close()", () => {
  it("leaves nothing open: a process using every kind of store exits by itself", async () => {
    const throttle = fileURLToPath(new URL("./throttle.ts", import.meta.url));
    const port = await closedPort();
    const script = `
      import pino from "pino";
      import { createThrottleStore } from ${JSON.stringify(throttle)};
      const logger = pino({ level: "silent" });
      const urls = [null, "redis://127.0.0.1:${port}"];
      if (process.env.TEST_REDIS_URL) urls.push(process.env.TEST_REDIS_URL);
      for (const redisUrl of urls) {
        const store = createThrottleStore({ redisUrl, logger, keyPrefix: "close-test" });
        const limiter = store.limiter({ name: "c", points: 2, durationSeconds: 600, blockSeconds: 600 });
        await limiter.consume("k");
        await limiter.consume("k");
        await store.close();
      }
      console.log("closed");
    `;
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "--eval", script],
      { cwd: fileURLToPath(new URL("../..", import.meta.url)), stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const [code] = (await once(child, "exit")) as [number | null];
    clearTimeout(timer);
    assert.equal(code, 0, `the process did not exit on its own: ${output}`);
    assert.match(output, /closed/);
  });
});

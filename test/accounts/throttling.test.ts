/**
 * Attack scenarios against the account throttles (issue 3, item 6): every refusal is checked
 * for its status and `Retry-After`, and for having changed nothing — no row stored, no mail
 * sent, no session issued.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it, mock } from "node:test";
import type { FastifyInstance, LightMyRequestResponse } from "fastify";
import { createUser } from "../../src/accounts/registration.service.js";
import { generateTotpCode, TOTP_PARAMETERS } from "../../src/accounts/totp.js";
import { buildApp } from "../../src/app.js";
import type { Config } from "../../src/config/config.js";
import { loadConfig } from "../../src/config/config.js";
import type { DatabaseHandle } from "../../src/db/database.js";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import { createLogger } from "../../src/logger.js";
import type { ThrottleStore } from "../../src/throttle/throttle.js";
import { createThrottleStore } from "../../src/throttle/throttle.js";
import type { SignedIn } from "../helpers/accounts.js";
import {
  asSession,
  createTestUser,
  GOOD_PASSWORD,
  sessionCookieFrom,
  signIn,
} from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp, testEnv } from "../helpers/app.js";
import type { TestDatabase } from "../helpers/databases.js";
import { createTestDatabase } from "../helpers/databases.js";
import { deleteRedisKeys } from "../helpers/redis-server.js";

const REDIS_URL = process.env.TEST_REDIS_URL;
const REDIS_SKIPPED =
  "TEST_REDIS_URL not set: login throttling across instances over Redis skipped " +
  "(set TEST_REDIS_URL=redis://127.0.0.1:6379 to run it)";

/** Limits from src/accounts/limits.ts, for the bounds on Retry-After. */
const HOUR_SECONDS = 3600;
const TOTP_WINDOW_SECONDS = 300;

let t: TestApp;
before(async () => {
  t = await createTestApp({ env: { REGISTRATION: "open" } });
});
after(async () => {
  await t.close();
});

// Every scenario comes from its own address (`remoteAddress`; TRUST_PROXY is off in tests),
// so the per-address counters of one scenario never decide another's outcome.

type Payload = Record<string, unknown>;
type Injectable = Pick<FastifyInstance, "inject">;

const post = (app: Injectable, url: string, payload: Payload, from: string) =>
  app.inject({ method: "POST", url, payload, remoteAddress: from });
const login = (payload: Payload, from: string, app: Injectable = t.app) =>
  post(app, "/api/v1/auth/login", payload, from);
const register = (payload: Payload, from: string) =>
  post(t.app, "/api/v1/auth/register", payload, from);
const requestReset = (email: string, from: string) =>
  post(t.app, "/api/v1/auth/password-reset", { email }, from);

/** The problem document without its per-request `requestId`. */
function problemOf(response: LightMyRequestResponse): Record<string, unknown> {
  const { requestId: _ignored, ...rest } = JSON.parse(response.body) as Record<string, unknown>;
  return rest;
}

/**
 * A throttling refusal: 429 problem+json of type `too-many-requests`, a whole `Retry-After`
 * in 1..maxSeconds, and no session cookie.
 */
function assertThrottled(response: LightMyRequestResponse, maxSeconds: number): number {
  assert.equal(response.statusCode, 429, response.body);
  assert.match(String(response.headers["content-type"]), /^application\/problem\+json/);
  const problem = problemOf(response);
  assert.match(String(problem.type), /too-many-requests$/);
  assert.equal(problem.status, 429);
  const header = String(response.headers["retry-after"]);
  assert.match(header, /^[1-9][0-9]*$/, `Retry-After is a positive whole number: ${header}`);
  const seconds = Number(header);
  assert.ok(seconds <= maxSeconds, `Retry-After ${seconds} s exceeds ${maxSeconds} s`);
  assert.equal(sessionCookieFrom(response), null, "a throttled request gets no session");
  return seconds;
}

function assertMfaRequired(response: LightMyRequestResponse): void {
  assert.equal(response.statusCode, 401, response.body);
  assert.match(String(problemOf(response).type), /mfa-required$/);
  assert.equal(sessionCookieFrom(response), null);
}

/** Lets the mail the services send with `setImmediate` after answering go out. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

async function countRows(
  table: "pending_registrations" | "password_reset_tokens" | "sessions",
): Promise<number> {
  const row = await t.database.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll().as("n"))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

async function auditActions(target: string): Promise<string[]> {
  const rows = await t.database.db
    .selectFrom("audit_events")
    .select("action")
    .where("target", "=", target)
    .execute();
  return rows.map((row) => row.action);
}

describe("registration throttling", () => {
  it("refuses the 11th sign-up from one address with 429 and Retry-After, storing nothing for it", async () => {
    const from = "203.0.113.1";
    for (let i = 0; i < 10; i++) {
      const response = await register(
        { username: `signup_${i}`, email: `signup_${i}@example.test`, password: GOOD_PASSWORD },
        from,
      );
      assert.equal(response.statusCode, 201, `sign-up ${i + 1}: ${response.body}`);
    }
    await settle();
    const pendingBefore = await countRows("pending_registrations");
    const mailBefore = t.mail.length;

    const refused = await register(
      { username: "signup_10", email: "signup_10@example.test", password: GOOD_PASSWORD },
      from,
    );
    assertThrottled(refused, HOUR_SECONDS);
    await settle();
    assert.equal(await countRows("pending_registrations"), pendingBefore, "no pending row added");
    const stored = await t.database.db
      .selectFrom("pending_registrations")
      .select("username")
      .where("username_key", "=", "signup_10")
      .execute();
    assert.deepEqual(stored, []);
    assert.equal(t.mail.length, mailBefore, "no confirmation mail sent");
    assert.deepEqual(
      await auditActions("signup_10"),
      ["account.register"],
      "only the refusal is recorded",
    );
    const refusal = await t.database.db
      .selectFrom("audit_events")
      .select(["outcome", "details"])
      .where("target", "=", "signup_10")
      .executeTakeFirstOrThrow();
    assert.deepEqual(
      [refusal.outcome, refusal.details],
      ["denied", JSON.stringify({ reason: "throttled" })],
    );

    // Per address, not global: someone else can still sign up meanwhile.
    const elsewhere = await register(
      { username: "signup_other", email: "signup_other@example.test", password: GOOD_PASSWORD },
      "203.0.113.2",
    );
    assert.equal(elsewhere.statusCode, 201, elsewhere.body);
  });
});

describe("password-reset throttling", () => {
  it("refuses the 11th request from one address with 429 and Retry-After, sending and storing nothing", async () => {
    const from = "203.0.113.10";
    const victim = await createTestUser(t, {
      username: "reset_addr_victim",
      email: "reset_addr_victim@example.test",
    });
    for (let i = 0; i < 10; i++) {
      const response = await requestReset(`nobody_${i}@example.test`, from);
      assert.equal(response.statusCode, 202, `request ${i + 1}: ${response.body}`);
    }
    await settle();
    const tokensBefore = await countRows("password_reset_tokens");
    const mailBefore = t.mail.length;

    const refused = await requestReset("reset_addr_victim@example.test", from);
    assertThrottled(refused, HOUR_SECONDS);
    await settle();
    assert.equal(t.mail.length, mailBefore, "no reset mail sent");
    assert.equal(await countRows("password_reset_tokens"), tokensBefore, "no token stored");
    const victimTokens = await t.database.db
      .selectFrom("password_reset_tokens")
      .select("token_hash")
      .where("user_id", "=", victim.id)
      .execute();
    assert.deepEqual(victimTokens, []);
  });

  it("answers 202 as usual beyond 3 requests per e-mail an hour, but mails and stores nothing more", async () => {
    const user = await createTestUser(t, {
      username: "reset_flooded",
      email: "reset_flooded@example.test",
    });
    const tokensOf = async (): Promise<number> =>
      (
        await t.database.db
          .selectFrom("password_reset_tokens")
          .select("token_hash")
          .where("user_id", "=", user.id)
          .execute()
      ).length;
    const mailTo = (): number => t.mail.filter((m) => m.to === "reset_flooded@example.test").length;

    const accepted: LightMyRequestResponse[] = [];
    for (let i = 0; i < 3; i++) {
      accepted.push(await requestReset("reset_flooded@example.test", "203.0.113.20"));
    }
    await settle();
    for (const response of accepted) assert.equal(response.statusCode, 202, response.body);
    assert.equal(mailTo(), 3, "the first three requests are mailed");
    assert.equal(await tokensOf(), 3);
    const first = accepted[0];
    assert.ok(first);

    // Beyond the limit, from the same address, another one, and in another spelling of the
    // address: the answer cannot be told apart from an accepted request.
    for (const [email, from] of [
      ["reset_flooded@example.test", "203.0.113.20"],
      ["reset_flooded@example.test", "203.0.113.21"],
      ["  Reset_Flooded@EXAMPLE.test ", "203.0.113.22"],
    ] as const) {
      const response = await requestReset(email, from);
      assert.equal(response.statusCode, 202, `${email} from ${from}: ${response.body}`);
      assert.equal(response.body, first.body, "same body as an accepted request");
      assert.equal(response.headers["content-type"], first.headers["content-type"]);
      assert.equal(response.headers["retry-after"], undefined, "nothing hints at a limit");
    }
    await settle();
    assert.equal(mailTo(), 3, "no further mail is sent");
    assert.equal(await tokensOf(), 3, "no further token is stored");
  });
});

describe("two-factor guessing at sign-in", () => {
  /** Enrols TOTP through the API, as a user does, and returns the secret. */
  async function enrolTotp(session: SignedIn): Promise<{ secret: string; recoveryCode: string }> {
    const start = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/mfa/totp",
      headers: asSession(session),
    });
    assert.equal(start.statusCode, 200, start.body);
    const { secret } = JSON.parse(start.body) as { secret: string };
    const confirm = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/mfa/totp/confirm",
      headers: asSession(session),
      payload: { code: generateTotpCode(secret, t.clock.now().getTime()) },
    });
    assert.equal(confirm.statusCode, 200, confirm.body);
    const { recoveryCodes } = JSON.parse(confirm.body) as { recoveryCodes: string[] };
    const recoveryCode = recoveryCodes[0];
    assert.ok(recoveryCode);
    return { secret, recoveryCode };
  }

  /** A six-digit code valid at none of the steps the server accepts now (±1 step of drift). */
  function wrongCode(secret: string): string {
    const now = t.clock.now().getTime();
    const stepMs = TOTP_PARAMETERS.period * 1000;
    const valid = new Set(
      [-1, 0, 1].map((drift) => generateTotpCode(secret, now + drift * stepMs)),
    );
    for (let n = 0; ; n++) {
      const candidate = String(n).padStart(6, "0");
      if (!valid.has(candidate)) return candidate;
    }
  }

  it("throttles wrong codes per user across addresses, and then refuses even a correct code", async () => {
    const user = await createTestUser(t, { username: "totp_target" });
    const { secret, recoveryCode } = await enrolTotp(await signIn(t, "totp_target"));
    // Past the step used at enrolment, so a correct code is not refused as a replay.
    t.clock.advance(2 * TOTP_PARAMETERS.period * 1000);
    const stateOf = () =>
      t.database.db
        .selectFrom("users")
        .select(["totp_last_step", "last_login_at", "last_login_address"])
        .where("id", "=", user.id)
        .executeTakeFirstOrThrow();
    const sessionsOf = async (): Promise<number> =>
      (
        await t.database.db
          .selectFrom("sessions")
          .select("id")
          .where("user_id", "=", user.id)
          .execute()
      ).length;

    // The attacker has the password and rotates addresses, so no per-address (or
    // per-account-and-address) login limit applies: only the per-user TOTP limit can stop it.
    let attempt = 0;
    let throttled: LightMyRequestResponse | null = null;
    while (throttled === null && attempt < 10) {
      attempt += 1;
      const response = await login(
        { username: "totp_target", password: GOOD_PASSWORD, totp: wrongCode(secret) },
        `198.51.100.${attempt}`,
      );
      if (response.statusCode === 429) throttled = response;
      else assertMfaRequired(response);
    }
    assert.ok(throttled, `wrong codes were never throttled (${attempt} attempts)`);
    assert.ok(attempt > 1, "the first wrong code is answered, not throttled");
    assertThrottled(throttled, TOTP_WINDOW_SECONDS);

    const stateBefore = await stateOf();
    const sessionsBefore = await sessionsOf();
    const correct = await login(
      {
        username: "totp_target",
        password: GOOD_PASSWORD,
        totp: generateTotpCode(secret, t.clock.now().getTime()),
      },
      "198.51.100.200",
    );
    assertThrottled(correct, TOTP_WINDOW_SECONDS);
    const recovery = await login(
      { username: "totp_target", password: GOOD_PASSWORD, totp: recoveryCode },
      "198.51.100.201",
    );
    assertThrottled(recovery, TOTP_WINDOW_SECONDS);

    assert.deepEqual(await stateOf(), stateBefore, "no sign-in recorded, the code not spent");
    assert.equal(await sessionsOf(), sessionsBefore, "no session issued");
    const unusedCodes = await t.database.db
      .selectFrom("recovery_codes")
      .select("id")
      .where("user_id", "=", user.id)
      .where("used_at", "is", null)
      .execute();
    assert.equal(unusedCodes.length, 10, "the recovery code was not spent");
  });
});

describe("login lockout", () => {
  it("counts case and whitespace spellings of a username, or of an e-mail, against the same lock", async () => {
    const user = await createTestUser(t, {
      username: "Spelled_S",
      email: "spelled_s@example.test",
    });
    const maxWait = t.config.loginThrottle.lockoutMinutes * 60;
    // Each list is as long as the per-account-and-address limit (5 by default), from its own
    // address; the right password in the canonical spelling is then refused.
    const cases: Array<{ from: string; canonical: string; spellings: string[] }> = [
      {
        from: "192.0.2.50",
        canonical: "spelled_s",
        spellings: ["Spelled_S", "SPELLED_S", "  spelled_s\t", "spelled_S", "\nSPELLED_s "],
      },
      {
        from: "192.0.2.51",
        canonical: "spelled_s@example.test",
        spellings: [
          "Spelled_S@Example.TEST",
          " spelled_s@example.test ",
          "SPELLED_S@EXAMPLE.TEST",
          "spelled_s@example.test\t",
          "\tSpelled_s@example.Test",
        ],
      },
    ];
    for (const { from, canonical, spellings } of cases) {
      assert.equal(spellings.length, t.config.loginThrottle.perAccountAddress);
      for (const username of spellings) {
        const response = await login({ username, password: "not-the-password-at-all-1" }, from);
        assert.equal(response.statusCode, 401, `${JSON.stringify(username)}: ${response.body}`);
      }
      assertThrottled(await login({ username: canonical, password: GOOD_PASSWORD }, from), maxWait);
    }
    const sessions = await t.database.db
      .selectFrom("sessions")
      .select("id")
      .where("user_id", "=", user.id)
      .execute();
    assert.deepEqual(sessions, []);
  });

  it("answers a locked account identically whether the password is right or wrong and whether it exists", async () => {
    const from = "192.0.2.60";
    const maxWait = t.config.loginThrottle.lockoutMinutes * 60;
    const limit = t.config.loginThrottle.perAccountAddress;
    const user = await createTestUser(t, { username: "locked_known" });
    for (let i = 0; i < limit; i++) {
      for (const username of ["locked_known", "ghost_unknown"]) {
        const response = await login({ username, password: `wrong-password-number-${i}` }, from);
        assert.equal(response.statusCode, 401, `${username} failure ${i + 1}: ${response.body}`);
      }
    }
    const stateOf = () =>
      t.database.db
        .selectFrom("users")
        .select(["failed_login_count", "last_login_at", "password_hash"])
        .where("id", "=", user.id)
        .executeTakeFirstOrThrow();
    const stateBefore = await stateOf();

    const cases = {
      "existing, right password": { username: "locked_known", password: GOOD_PASSWORD },
      "existing, wrong password": { username: "locked_known", password: "still-wrong-pass-99" },
      "unknown, the same password": { username: "ghost_unknown", password: GOOD_PASSWORD },
      "unknown, wrong password": { username: "ghost_unknown", password: "still-wrong-pass-99" },
    };
    const answers: Array<[string, LightMyRequestResponse]> = [];
    for (const [name, payload] of Object.entries(cases)) {
      answers.push([name, await login(payload, from)]);
    }
    const [, reference] = answers[0] ?? [];
    assert.ok(reference);
    for (const [name, response] of answers) {
      assertThrottled(response, maxWait);
      assert.deepEqual(problemOf(response), problemOf(reference), name);
      assert.equal(response.headers["content-type"], reference.headers["content-type"], name);
    }

    assert.deepEqual(await stateOf(), stateBefore, "throttled attempts change nothing");
    const sessions = await t.database.db
      .selectFrom("sessions")
      .select("id")
      .where("user_id", "=", user.id)
      .execute();
    assert.deepEqual(sessions, [], "no session issued");
  });

  it("gives a Retry-After within LOGIN_LOCKOUT_MINUTES, and lets the owner in once it has passed", async () => {
    const lockoutMinutes = 2;
    const short = await createTestApp({ env: { LOGIN_LOCKOUT_MINUTES: String(lockoutMinutes) } });
    // The in-memory counters read Date.now(); the test clock is Date.now() plus an offset, so
    // moving Date.now moves both together.
    const realNow = Date.now.bind(Date);
    let offsetMs = 0;
    mock.method(Date, "now", () => realNow() + offsetMs);
    try {
      const from = "192.0.2.70";
      await createTestUser(short, { username: "window_w" });
      for (let i = 0; i < short.config.loginThrottle.perAccountAddress; i++) {
        const response = await login(
          { username: "window_w", password: `wrong-password-number-${i}` },
          from,
          short.app,
        );
        assert.equal(response.statusCode, 401, response.body);
      }
      const locked = await login(
        { username: "window_w", password: GOOD_PASSWORD },
        from,
        short.app,
      );
      const retryAfter = assertThrottled(locked, lockoutMinutes * 60);

      // Shortly before the announced time the lock still holds…
      offsetMs += Math.max(0, retryAfter - 5) * 1000;
      const early = await login({ username: "window_w", password: GOOD_PASSWORD }, from, short.app);
      assertThrottled(early, 5);
      // …and once it has passed, the owner's right password works again.
      offsetMs += 6000;
      const later = await login({ username: "window_w", password: GOOD_PASSWORD }, from, short.app);
      assert.equal(later.statusCode, 200, later.body);
      assert.ok(sessionCookieFrom(later));
    } finally {
      mock.restoreAll();
      await short.close();
    }
  });
});

/** One app instance of a deployment: its own Redis connection, the shared database. */
interface Instance {
  app: FastifyInstance;
  throttle: ThrottleStore;
}

describe("login throttling shared through Redis by two instances", {
  skip: REDIS_URL ? false : REDIS_SKIPPED,
}, () => {
  // createTestApp gives every app its own random throttle keyPrefix (so test files sharing
  // one Redis never count against each other) and its own SQLite file, and takes no option
  // for either. Two instances of one deployment are therefore built here from the same
  // exported pieces: one database, one config, and one keyPrefix for two separate stores.
  const redisUrl = REDIS_URL ?? "";
  const keyPrefix = `test-shared-${randomBytes(6).toString("hex")}`;
  let config: Config;
  let database: DatabaseHandle;
  let shared: TestDatabase | undefined;
  let one: Instance;
  let two: Instance;

  const discard = new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });

  async function createInstance(): Promise<Instance> {
    const logger = createLogger({ level: "warn", pretty: false, destination: discard });
    const throttle = createThrottleStore({ redisUrl, logger, keyPrefix });
    const app = await buildApp(config, {
      database,
      logger,
      throttle,
      mailer: { send: async () => {}, close: async () => {} },
    });
    await app.ready();
    return { app, throttle };
  }

  before(async () => {
    const cwd = mkdtempSync(join(tmpdir(), "strongroom-shared-"));
    ({ config } = loadConfig(testEnv({ LOGIN_MAX_FAILURES_PER_ADDRESS: "6" }), cwd));
    shared = await createTestDatabase();
    config = { ...config, database: shared.target };
    database = await openDatabase(config.database);
    await migrateToLatest(database.db);
    one = await createInstance();
    two = await createInstance();
    assert.equal(one.throttle.backend, "redis");
    assert.equal(two.throttle.backend, "redis");
  });

  after(async () => {
    for (const instance of [one, two]) {
      if (instance === undefined) continue;
      await instance.app.close();
      await instance.throttle.close();
    }
    await database?.close();
    await shared?.cleanup();
    // Leave nothing behind in the shared Redis.
    await deleteRedisKeys(redisUrl, keyPrefix);
  });

  /** `count` failures for `username` from `from`, split over the instances as `split`. */
  async function failOn(
    instances: Array<[Instance, number]>,
    username: (i: number) => string,
    from: string,
  ): Promise<void> {
    let i = 0;
    for (const [instance, count] of instances) {
      for (let n = 0; n < count; n++, i++) {
        const response = await login(
          { username: username(i), password: `wrong-password-number-${i}` },
          from,
          instance.app,
        );
        assert.equal(response.statusCode, 401, `failure ${i + 1}: ${response.body}`);
      }
    }
  }

  it("(createTestApp's apps, by contrast, never share counts: each has its own keyPrefix)", async () => {
    const a = await createTestApp({ redisUrl });
    const b = await createTestApp({ redisUrl });
    try {
      assert.equal(a.throttle.backend, "redis");
      for (const [app, count] of [
        [a, 3],
        [b, 2],
      ] as const) {
        for (let i = 0; i < count; i++) {
          const response = await login(
            { username: "isolated_ghost", password: `wrong-password-number-${i}` },
            "192.0.2.90",
            app.app,
          );
          assert.equal(response.statusCode, 401);
        }
      }
      const next = await login(
        { username: "isolated_ghost", password: GOOD_PASSWORD },
        "192.0.2.90",
        a.app,
      );
      assert.equal(next.statusCode, 401, "3 + 2 failures in separate key spaces lock nothing");
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("locks an unknown username after failures split over both instances (3 + 2 of 5)", async () => {
    const from = "192.0.2.91";
    assert.equal(config.loginThrottle.perAccountAddress, 5);
    await failOn(
      [
        [one, 3],
        [two, 2],
      ],
      () => "shared_ghost",
      from,
    );
    const onOne = await login({ username: "shared_ghost", password: GOOD_PASSWORD }, from, one.app);
    const onTwo = await login({ username: "Shared_Ghost", password: GOOD_PASSWORD }, from, two.app);
    const maxWait = config.loginThrottle.lockoutMinutes * 60;
    assertThrottled(onOne, maxWait);
    assertThrottled(onTwo, maxWait);
    assert.deepEqual(problemOf(onOne), problemOf(onTwo));
  });

  it("blocks an address spraying many usernames over both instances, even with a right password", async () => {
    const from = "192.0.2.92";
    const user = await createUser(
      database.db,
      { config, now: () => new Date() },
      {
        username: "spray_target",
        email: "spray_target@example.test",
        password: GOOD_PASSWORD,
        role: "member",
      },
      { id: null, name: "test", address: null },
    );
    const perAddress = config.loginThrottle.perAddress;
    assert.equal(perAddress, 6);
    await failOn(
      [
        [one, 3],
        [two, 3],
      ],
      (i) => `sprayed_${i}`,
      from,
    );
    for (const instance of [one, two]) {
      assertThrottled(
        await login({ username: "sprayed_new", password: GOOD_PASSWORD }, from, instance.app),
        config.loginThrottle.lockoutMinutes * 60,
      );
      assertThrottled(
        await login({ username: "spray_target", password: GOOD_PASSWORD }, from, instance.app),
        config.loginThrottle.lockoutMinutes * 60,
      );
    }
    const sessions = await database.db
      .selectFrom("sessions")
      .select("id")
      .where("user_id", "=", user.id)
      .execute();
    assert.deepEqual(sessions, [], "no session issued");
  });

  it("locks a known account after failures split over both instances over the same database", async () => {
    // With one database the account key (the user id) is the same on both instances.
    const from = "192.0.2.93";
    const user = await createUser(
      database.db,
      { config, now: () => new Date() },
      {
        username: "shared_known",
        email: "shared_known@example.test",
        password: GOOD_PASSWORD,
        role: "member",
      },
      { id: null, name: "test", address: null },
    );
    await failOn(
      [
        [one, 3],
        [two, 2],
      ],
      (i) => (i % 2 === 0 ? "shared_known" : "Shared_Known"),
      from,
    );
    const right = await login({ username: "shared_known", password: GOOD_PASSWORD }, from, two.app);
    assertThrottled(right, config.loginThrottle.lockoutMinutes * 60);
    const row = await database.db
      .selectFrom("users")
      .select(["last_login_at", "failed_login_count"])
      .where("id", "=", user.id)
      .executeTakeFirstOrThrow();
    assert.deepEqual(row, { last_login_at: null, failed_login_count: 5 });
    const sessions = await database.db
      .selectFrom("sessions")
      .select("id")
      .where("user_id", "=", user.id)
      .execute();
    assert.deepEqual(sessions, [], "no session issued");
  });
});

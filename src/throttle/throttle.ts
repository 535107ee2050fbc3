/**
 * Attempt counting for login throttling and lockout, registration, password reset and TOTP
 * verification (SPEC §7: counts are shared across instances when `REDIS_URL` is set).
 * All counting is rate-limiter-flexible's; this module chooses the store, hashes keys, and
 * turns its results into {@link ThrottleDecision} values.
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { RateLimiterAbstract } from "rate-limiter-flexible";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import type { ThrottleRedisConnection } from "./redis-connection.js";
import { connectThrottleRedis } from "./redis-connection.js";

/** One kind of limit, e.g. failed logins per account. */
export interface LimitRule {
  /** Key prefix, unique per store, e.g. `login-account`: letters, digits, `_` and `-`. */
  name: string;
  /** Attempts allowed per window: a positive integer. */
  points: number;
  /** Window length in seconds, counted from the first attempt: a positive integer. */
  durationSeconds: number;
  /**
   * Seconds a key stays blocked once its points are used up, counted from the attempt that
   * used the last point; replaces the rest of the window. 0 = blocked until the window ends.
   */
  blockSeconds: number;
}

/** What a limiter says about one key. */
export type ThrottleDecision =
  | { allowed: true; remaining: number }
  /** `retryAfterSeconds` is a whole number ≥ 1, ready for a `Retry-After` header. */
  | { allowed: false; retryAfterSeconds: number };

/**
 * Counts attempts for one {@link LimitRule}. Keys are any strings (usernames, addresses,
 * user ids) compared exactly: callers normalise first (e.g. lower-case a username), or the
 * variants are counted separately.
 */
export interface Limiter {
  /**
   * Counts `points` attempts (default 1, a positive integer) and says whether they were
   * allowed. The attempt that uses the last point is allowed (`remaining: 0`) and starts the
   * block; later ones are denied until it ends.
   *
   * @throws {RangeError} when `points` is not a positive integer.
   */
  consume(key: string, points?: number): Promise<ThrottleDecision>;
  /** Whether `key` is blocked or has no points left, without counting an attempt. */
  peek(key: string): Promise<ThrottleDecision>;
  /** Forgets every attempt counted for `key` (e.g. after a successful login). */
  reset(key: string): Promise<void>;
  /** Gives back one counted attempt (one counted up front that turned out legitimate). */
  reward(key: string): Promise<void>;
}

/** Where counts live; one per process, shared by every rule. */
export interface ThrottleStore {
  /**
   * The limiter for `rule`. Asking twice for the same rule returns the same limiter.
   *
   * @throws {RangeError} when the rule is malformed, or its name is already used by a rule
   * with different numbers (two rules sharing keys would count against each other).
   */
  limiter(rule: LimitRule): Limiter;
  readonly backend: "memory" | "redis";
  /**
   * Whether the Redis connection is ready for commands right now (false while connecting or
   * reconnecting, when limits fall back to this process); null without Redis. Never waits.
   */
  redisConnected(): boolean | null;
  /**
   * Closes the Redis connection, if any, and resolves once nothing is left open. Limiters
   * still answer afterwards, from the in-process fallback; call it at shutdown.
   */
  close(): Promise<void>;
}

/** Options for {@link createThrottleStore}. */
export interface ThrottleStoreOptions {
  /** `redis://` or `rediss://` URL; `null` keeps counts in this process. */
  redisUrl: string | null;
  /** Receives one warning per Redis outage and one info line per recovery. */
  logger: Logger;
  /**
   * Prefix of every stored key, so several deployments (or test runs) can share one Redis.
   * Letters, digits and `_ - . :`, at most 64 characters. Default `strongroom:throttle`.
   */
  keyPrefix?: string;
}

const DEFAULT_KEY_PREFIX = "strongroom:throttle";
const KEY_PREFIX_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
// No ":" in rule names: with hashed keys this keeps "prefix:name:digest" unambiguous.
const RULE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/**
 * Creates the throttling store: rate-limiter-flexible's `RateLimiterMemory` without Redis,
 * `RateLimiterRedis` with it.
 *
 * While Redis is unreachable the server keeps serving, and throttling fails closed rather
 * than open: every Redis limiter has an `insuranceLimiter`, an in-process `RateLimiterMemory`
 * allowing only ceil(points / 2) per window on each instance. Failing open would hand an
 * attacker unlimited password guesses for as long as they can keep Redis down; refusing
 * every request would turn a Redis fault into a full outage. Stricter per-instance limits
 * sit between: with N instances an attacker gets at most N × ceil(points / 2) per window.
 * (A 1-point rule stays at 1.) Counts made during the outage stay in the fallback and are
 * not copied to Redis afterwards; `reset` during an outage clears only the fallback.
 *
 * Timing with Redis: the first decisions wait for the first connection attempt (at most
 * 2 s); after that a decision never waits for a disconnected Redis, and at most 1 s
 * (the command timeout) for a hung one. Reconnection is retried forever, 100 ms doubling to
 * 2 s between attempts. Each outage logs one warning and each recovery one info line.
 *
 * @throws {RangeError} when `keyPrefix` is malformed.
 * @throws {TypeError} when `redisUrl` is not a URL.
 */
export function createThrottleStore(options: ThrottleStoreOptions): ThrottleStore {
  const keyPrefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
  if (!KEY_PREFIX_PATTERN.test(keyPrefix)) {
    throw new RangeError("throttle keyPrefix must be 1-64 of letters, digits, _ - . :");
  }
  const connection =
    options.redisUrl === null ? null : connectThrottleRedis(options.redisUrl, options.logger);
  const limiters = new Map<string, { rule: LimitRule; limiter: Limiter }>();

  return {
    backend: connection === null ? "memory" : "redis",
    redisConnected: () => (connection === null ? null : connection.client.status === "ready"),
    limiter(rule: LimitRule): Limiter {
      assertValidRule(rule);
      const existing = limiters.get(rule.name);
      if (existing !== undefined) {
        if (sameNumbers(existing.rule, rule)) return existing.limiter;
        throw new RangeError(`throttle rule "${rule.name}" is already defined differently`);
      }
      const prefix = `${keyPrefix}:${rule.name}`;
      const limiter =
        connection === null ? memoryLimiter(rule, prefix) : redisLimiter(rule, prefix, connection);
      limiters.set(rule.name, { rule: { ...rule }, limiter });
      return limiter;
    },
    async close(): Promise<void> {
      await connection?.close();
    },
  };
}

function memoryLimiter(rule: LimitRule, keyPrefix: string): Limiter {
  const store = new RateLimiterMemory({
    keyPrefix,
    points: rule.points,
    duration: rule.durationSeconds,
    blockDuration: rule.blockSeconds,
  });
  return createLimiter(rule, store, {
    alsoReset: [],
    settled: Promise.resolve(),
    freshPoints: () => rule.points,
  });
}

function redisLimiter(
  rule: LimitRule,
  keyPrefix: string,
  connection: ThrottleRedisConnection,
): Limiter {
  const fallbackPoints = Math.ceil(rule.points / 2);
  const insurance = new RateLimiterMemory({
    keyPrefix,
    points: fallbackPoints,
    duration: rule.durationSeconds,
    blockDuration: rule.blockSeconds,
  });
  const store = new RateLimiterRedis({
    storeClient: connection.client,
    keyPrefix,
    points: rule.points,
    duration: rule.durationSeconds,
    blockDuration: rule.blockSeconds,
    insuranceLimiter: insurance,
    // Go straight to the fallback while disconnected instead of waiting on a dead socket.
    rejectIfRedisNotReady: true,
  });
  // The fallback is reset too, or counts from an earlier outage would outlive a reset.
  return createLimiter(rule, store, {
    alsoReset: [insurance],
    settled: connection.settled,
    freshPoints: () => (connection.client.status === "ready" ? rule.points : fallbackPoints),
  });
}

interface LimiterParts {
  /** Limiters whose counts `reset` clears besides the store's. */
  alsoReset: RateLimiterAbstract[];
  /** Awaited before every operation: the store's first connection attempt. */
  settled: Promise<void>;
  /** Points a key with no record has, for `peek` (the fallback has fewer). */
  freshPoints: () => number;
}

function createLimiter(
  rule: LimitRule,
  store: RateLimiterAbstract,
  { alsoReset, settled, freshPoints }: LimiterParts,
): Limiter {
  return {
    async consume(key: string, points = 1): Promise<ThrottleDecision> {
      if (!Number.isSafeInteger(points) || points < 1) {
        throw new RangeError("points to consume must be a positive integer");
      }
      const storeKey = hashKey(key);
      await settled;
      let result: RateLimiterRes;
      try {
        result = await store.consume(storeKey, points);
      } catch (rejection: unknown) {
        return denied(rejection);
      }
      // rate-limiter-flexible blocks on the first attempt *beyond* the points. Blocking when
      // the last point is used makes the lockout hold also for callers that peek first and
      // count only failures, and so never make an attempt beyond the points.
      if (result.remainingPoints === 0 && rule.blockSeconds > 0) {
        await store.block(storeKey, rule.blockSeconds);
      }
      return { allowed: true, remaining: result.remainingPoints };
    },

    async peek(key: string): Promise<ThrottleDecision> {
      await settled;
      const result = await store.get(hashKey(key));
      // msBeforeNext ≤ 0: the record has expired but the store has not removed it yet.
      if (result === null || result.msBeforeNext <= 0) {
        return { allowed: true, remaining: freshPoints() };
      }
      if (result.remainingPoints > 0) return { allowed: true, remaining: result.remainingPoints };
      return { allowed: false, retryAfterSeconds: toRetryAfterSeconds(result.msBeforeNext) };
    },

    async reward(key: string): Promise<void> {
      await settled;
      await store.reward(hashKey(key), 1);
    },

    async reset(key: string): Promise<void> {
      const storeKey = hashKey(key);
      await settled;
      await store.delete(storeKey);
      for (const other of alsoReset) await other.delete(storeKey);
    },
  };
}

/** rate-limiter-flexible rejects with a RateLimiterRes when denying, an Error on failure. */
function denied(rejection: unknown): ThrottleDecision {
  if (rejection instanceof RateLimiterRes) {
    return { allowed: false, retryAfterSeconds: toRetryAfterSeconds(rejection.msBeforeNext) };
  }
  throw rejection;
}

/** Whole seconds, rounded up so a client retrying on time is not refused again; at least 1. */
function toRetryAfterSeconds(milliseconds: number): number {
  return Math.max(1, Math.ceil(milliseconds / 1000));
}

/**
 * Keys come from users (usernames, e-mail addresses, headers). Hashing gives every key the
 * same short shape, so no key (with ':', newlines, or megabytes of text) can collide with
 * another or with a different rule's, and raw identifiers are not stored in Redis. The UTF-16
 * code units are hashed, not UTF-8: encoding to UTF-8 turns every lone surrogate into U+FFFD,
 * which would make distinct keys collide.
 */
function hashKey(key: string): string {
  return createHash("sha256").update(key, "utf16le").digest("base64url");
}

function assertValidRule(rule: LimitRule): void {
  if (!RULE_NAME_PATTERN.test(rule.name)) {
    throw new RangeError("throttle rule name must be 1-64 of letters, digits, _ and -");
  }
  for (const [field, value, minimum] of [
    ["points", rule.points, 1],
    ["durationSeconds", rule.durationSeconds, 1],
    ["blockSeconds", rule.blockSeconds, 0],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < minimum) {
      throw new RangeError(
        `throttle rule "${rule.name}": ${field} must be an integer ≥ ${minimum}`,
      );
    }
  }
}

function sameNumbers(a: LimitRule, b: LimitRule): boolean {
  return (
    a.points === b.points &&
    a.durationSeconds === b.durationSeconds &&
    a.blockSeconds === b.blockSeconds
  );
}

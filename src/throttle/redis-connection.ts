import { createRequire } from "node:module";
import type { Redis } from "ioredis";
import type { Logger } from "pino";

/** Time allowed to open a connection (TCP and TLS), in milliseconds. */
export const REDIS_CONNECT_TIMEOUT_MS = 2_000;
/**
 * Time one command may take before it is treated as failed, in milliseconds. Redis answers
 * in well under a millisecond on a healthy network, so this only bounds how long a login can
 * wait on a hung server before the in-process fallback answers instead.
 */
export const REDIS_COMMAND_TIMEOUT_MS = 1_000;
/** A connection with commands outstanding and no bytes back for this long is dropped (ms). */
const REDIS_SOCKET_TIMEOUT_MS = 2_000;
const RECONNECT_FIRST_DELAY_MS = 100;
/** Upper bound between reconnect attempts, in milliseconds: retries never stop. */
export const REDIS_RECONNECT_MAX_DELAY_MS = 2_000;

/**
 * Delay before reconnect attempt `attempt` (1-based), in milliseconds: doubling from 100 ms,
 * capped at {@link REDIS_RECONNECT_MAX_DELAY_MS}, plus up to 10 % jitter so many instances
 * losing Redis together do not reconnect in lockstep. Always returns a number, so ioredis
 * keeps retrying for as long as the process runs.
 */
export function reconnectDelayMs(attempt: number): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 16);
  const base = Math.min(RECONNECT_FIRST_DELAY_MS * 2 ** exponent, REDIS_RECONNECT_MAX_DELAY_MS);
  return Math.round(base + Math.random() * base * 0.1);
}

/**
 * The Redis URL with any username and password removed, for log lines.
 *
 * @throws {TypeError} when `url` is not a URL.
 */
export function describeRedisUrl(url: string): string {
  const parsed = new URL(url);
  parsed.username = "";
  parsed.password = "";
  return parsed.toString();
}

/** One ioredis client used by every throttling limiter, with outage logging attached. */
export interface ThrottleRedisConnection {
  client: Redis;
  /**
   * Resolves once the first connection attempt has succeeded or failed (at most
   * {@link REDIS_CONNECT_TIMEOUT_MS} after start-up), then at once. Decisions wait for it, so
   * a freshly started instance does not answer from the fallback merely because its first
   * request arrived before the connection was ready.
   */
  settled: Promise<void>;
  /** Disconnects without waiting for Redis and resolves once the client has ended. */
  close(): Promise<void>;
}

/**
 * Opens the throttling Redis client. Commands never queue while disconnected
 * (`enableOfflineQueue: false`) and are never replayed after a reconnect: a throttling
 * decision is needed now, and a stale increment replayed later would count an attempt twice
 * (the fallback limiter has already counted it).
 *
 * Logs one warning when Redis becomes unreachable (at start-up or later) and one info line
 * when it is back; nothing in between, however many reconnect attempts fail.
 *
 * @throws {TypeError} when `url` is not a URL.
 */
export function connectThrottleRedis(url: string, logger: Logger): ThrottleRedisConnection {
  const password = urlPassword(url);
  const redis = describeRedisUrl(url);
  // Loaded here, not at the top: a server without REDIS_URL never holds ioredis in memory.
  const { Redis: RedisClient } = createRequire(import.meta.url)(
    "ioredis",
  ) as typeof import("ioredis");
  // ioredis turns every query parameter into a client option that wins over the ones below
  // (an empty `tls=` even drops TLS): it gets the URL without its query. Configuration
  // refuses a REDIS_URL with one, so nothing given is silently ignored.
  const client = new RedisClient(withoutQuery(url), {
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    // Fail commands pending at a disconnect at once instead of holding them for retries.
    maxRetriesPerRequest: 0,
    connectTimeout: REDIS_CONNECT_TIMEOUT_MS,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    // A server that accepts bytes but never answers (paused, swapping) is treated as down,
    // which also makes the outage visible in the log.
    socketTimeout: REDIS_SOCKET_TIMEOUT_MS,
    retryStrategy: reconnectDelayMs,
    connectionName: "strongroom-throttle",
  });

  // "connecting" until the first ready; the first failure, then or later, opens an outage.
  let state: "connecting" | "up" | "down" = "connecting";
  let closing = false;
  let settle = (): void => {};
  const settled = new Promise<void>((resolve) => {
    settle = resolve;
  });
  // Should neither "ready" nor a failure arrive (a stalled TLS handshake), stop waiting anyway.
  const settleTimer = setTimeout(settle, REDIS_CONNECT_TIMEOUT_MS);
  settleTimer.unref();
  void settled.then(() => clearTimeout(settleTimer));

  const markDown = (reason: string): void => {
    settle();
    if (closing || state === "down") return;
    state = "down";
    // Error texts from ioredis do not carry the password; scrub it anyway, cheaply.
    const safeReason = password === "" ? reason : reason.split(password).join("[redacted]");
    logger.warn(
      { redis, reason: safeReason },
      "throttle: Redis unreachable; limits are now per instance and stricter until it returns",
    );
  };
  client.on("error", (error: Error) => markDown(error.message));
  client.on("close", () => markDown("connection closed"));
  client.on("ready", () => {
    settle();
    if (state === "down") {
      logger.info({ redis }, "throttle: Redis reachable again; limits are shared again");
    } else {
      logger.debug({ redis }, "throttle: connected to Redis");
    }
    state = "up";
  });

  return {
    client,
    settled,
    async close(): Promise<void> {
      closing = true;
      settle();
      const status = client.status;
      if (status === "end") return;
      // Not events.once: that would reject on an "error" emitted while the socket goes down.
      const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
      client.disconnect();
      // Between reconnect attempts there is no socket to close, so ioredis never emits "end";
      // disconnect() has already cancelled the pending attempt, which was the last handle.
      if (status === "reconnecting") return;
      await ended;
    },
  };
}

/** The URL's password as ioredis will send it (percent-decoded when that is well-formed). */
/** `url` without its query string (and fragment). */
export function withoutQuery(url: string): string {
  const parsed = new URL(url);
  parsed.search = "";
  parsed.hash = "";
  return parsed.toString();
}

function urlPassword(url: string): string {
  const raw = new URL(url).password;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

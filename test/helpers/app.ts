import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import type { FastifyInstance } from "fastify";
import { buildApp } from "../../src/app.js";
import type { Config } from "../../src/config/config.js";
import { loadConfig } from "../../src/config/config.js";
import type { DatabaseHandle } from "../../src/db/database.js";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import type { DatabaseTarget } from "../../src/db/url.js";
import { createLogger } from "../../src/logger.js";
import type { Mailer, MailMessage } from "../../src/mail/mailer.js";
import type { ThrottleStore } from "../../src/throttle/throttle.js";
import { createThrottleStore } from "../../src/throttle/throttle.js";
import { createTestDatabase } from "./databases.js";

/** Environment for a test configuration: strong random keys, test mode, a temp SQLite file. */
export function testEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: "test",
    SECRET_KEY: randomBytes(32).toString("base64url"),
    MASTER_KEY: `t1:${randomBytes(32).toString("base64")}`,
    DATABASE_URL: "sqlite://./data/test.db",
    LOG_LEVEL: "info",
    ...overrides,
  };
}

export interface TestApp {
  app: FastifyInstance;
  config: Config;
  database: DatabaseHandle;
  /** Every log line the app wrote, as raw JSON text. */
  logs: string[];
  /** Every mail the app sent, in order. */
  mail: MailMessage[];
  /** The app's clock: tests move it with `clock.advance(ms)`. */
  clock: TestClock;
  throttle: ThrottleStore;
  close(): Promise<void>;
}

/**
 * A real app over a real, migrated database (SQLite in a temp dir unless `target` is given),
 * driven with `app.inject`. Logs are captured instead of printed.
 */
export async function createTestApp(
  options: {
    env?: Record<string, string | undefined>;
    target?: DatabaseTarget;
    /** A real mailer instead of the capturing one. */
    mailer?: Mailer;
    /** Counters in this Redis instead of in memory. */
    redisUrl?: string;
    /**
     * The throttle store's key prefix: two apps given the same one (and the same Redis and
     * `target`) are two instances of one deployment. Default: random, so apps never share.
     */
    throttleKeyPrefix?: string;
    /** Extra routes a test needs (registered before the app is ready). */
    routes?: (app: FastifyInstance) => void | Promise<void>;
  } = {},
): Promise<TestApp> {
  const cwd = mkdtempSync(join(tmpdir(), "strongroom-app-"));
  const { config: loaded } = loadConfig(testEnv(options.env), cwd);
  // Without a target: a new database on the test engine (PostgreSQL under TEST_ENGINE=postgres).
  const own = options.target === undefined ? await createTestDatabase() : null;
  const config: Config = { ...loaded, database: options.target ?? own?.target ?? loaded.database };
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      callback();
    },
  });
  const logger = createLogger({ level: config.logLevel, pretty: false, destination });
  const database = await openDatabase(config.database);
  await migrateToLatest(database.db);
  const mail: MailMessage[] = [];
  const mailer: Mailer = options.mailer ?? {
    send: async (message) => {
      mail.push(message);
    },
    close: async () => {},
  };
  const clock = new TestClock();
  const throttle = createThrottleStore({
    redisUrl: options.redisUrl ?? null,
    logger,
    keyPrefix: options.throttleKeyPrefix ?? `test-${randomBytes(6).toString("hex")}`,
  });
  const app = await buildApp(config, {
    database,
    logger,
    throttle,
    mailer,
    now: () => clock.now(),
  });
  if (options.routes !== undefined) await options.routes(app);
  await app.ready();
  return {
    app,
    config,
    database,
    logs,
    mail,
    clock,
    throttle,
    close: async () => {
      await app.close();
      await Promise.all([database.close(), throttle.close()]);
      await own?.cleanup();
    },
  };
}

/** A clock that starts at the real time and moves only when told. */
export class TestClock {
  #offsetMs = 0;

  now(): Date {
    return new Date(Date.now() + this.#offsetMs);
  }

  advance(ms: number): void {
    this.#offsetMs += ms;
  }
}

import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { startHousekeeping } from "./accounts/housekeeping.js";
import { buildApp } from "./app.js";
import type { Config } from "./config/config.js";
import { loadConfig } from "./config/config.js";
import type { DatabaseHandle } from "./db/database.js";
import { openDatabase } from "./db/database.js";
import { migrateToLatest } from "./db/migrate.js";
import { createLogger } from "./logger.js";
import { createMailer } from "./mail/mailer.js";
import { createThrottleStore } from "./throttle/throttle.js";

/** After a shutdown signal, in-flight requests get this long before the process exits anyway. */
export const SHUTDOWN_GRACE_MS = 10_000;

/** The running server, for callers that stop it themselves. */
export interface RunningServer {
  app: FastifyInstance;
  database: DatabaseHandle;
  config: Config;
  logger: Logger;
  /** Stops accepting, finishes in-flight requests, closes the database. */
  stop(): Promise<void>;
}

/**
 * Starts the server: configuration → database (migrated) → app → listen. Throws
 * `ConfigError`, `DatabaseUrlError` or `DatabaseUnreachableError` with one clear line each;
 * the CLI prints them without a stack trace.
 */
export async function startServer(env: NodeJS.ProcessEnv, cwd: string): Promise<RunningServer> {
  const { config, warnings } = loadConfig(env, cwd);
  const logger = createLogger({
    level: config.logLevel,
    pretty: config.env === "development" && process.stdout.isTTY === true,
  });
  for (const warning of warnings) logger.warn(`${warning.variable}: ${warning.message}`);

  const database = await openDatabase(config.database, {
    // An idle pooled connection broke (a server restart or failover): say so when it happens,
    // not only when the next request fails. The pool reconnects by itself once it can.
    onConnectionError: (error) => logger.warn({ err: error }, "database connection lost"),
  });
  const throttle = createThrottleStore({ redisUrl: config.redisUrl, logger });
  const mailer = createMailer({ smtp: config.smtp, env: config.env, logger });
  try {
    const { applied } = await migrateToLatest(database.db);
    if (applied.length > 0) logger.info({ migrations: applied }, "database migrated");
    const app = await buildApp(config, { database, logger, throttle, mailer });
    const scheme = config.tls !== null ? "https" : "http";
    await app.listen({
      port: config.port,
      host: config.host,
      listenTextResolver: (address) =>
        `Strongroom is serving at ${address.replace(/^https?:/, `${scheme}:`)} (public URL ${config.publicUrl})`,
    });
    // Ended sessions, reset links, sign-ups and passkey challenges are removed, not only refused.
    const stopHousekeeping = startHousekeeping({ db: database.db, logger });
    const stop = async (): Promise<void> => {
      await stopHousekeeping();
      await app.close();
      await Promise.all([database.close(), throttle.close(), mailer.close()]);
    };
    return { app, database, config, logger, stop };
  } catch (error) {
    await Promise.all([database.close(), throttle.close(), mailer.close()]);
    throw error;
  }
}

/**
 * `strongroom serve`: starts, then on SIGTERM or SIGINT stops accepting connections, lets
 * in-flight requests finish (up to SHUTDOWN_GRACE_MS), closes the database and exits 0.
 */
export async function serve(env: NodeJS.ProcessEnv, cwd: string): Promise<void> {
  const server = await startServer(env, cwd);
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    server.logger.info({ signal }, "shutting down: finishing in-flight requests");
    const timer = setTimeout(() => {
      server.logger.error("in-flight requests did not finish in time; exiting");
      process.exit(1);
    }, SHUTDOWN_GRACE_MS);
    timer.unref();
    server.stop().then(
      () => {
        server.logger.info("stopped");
        server.logger.flush();
        process.exitCode = 0;
      },
      (error: unknown) => {
        server.logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

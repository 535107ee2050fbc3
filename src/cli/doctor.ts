import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { Redis } from "ioredis";
import { countAdministrators } from "../accounts/admin-actions.service.js";
import { buildApp } from "../app.js";
import type { Config } from "../config/config.js";
import { resolveConfig } from "../config/config.js";
import { ARGON2_NICE_INCREMENT, hashingPriorityLowered } from "../crypto/argon2-pool.js";
import { openDatabase } from "../db/database.js";
import { pendingMigrations } from "../db/migrate.js";
import { describeDatabaseTarget } from "../db/url.js";
import { createLogger } from "../logger.js";
import { createMailer } from "../mail/mailer.js";
import { createThrottleStore } from "../throttle/throttle.js";

export type CheckStatus = "pass" | "warn" | "fail";

export interface Check {
  status: CheckStatus;
  name: string;
  message: string;
}

/** Headers every response must carry; `doctor` asks the real app for a page and checks. */
const REQUIRED_HEADERS = [
  "content-security-policy",
  "x-frame-options",
  "x-content-type-options",
  "referrer-policy",
  "permissions-policy",
  "cross-origin-opener-policy",
  "cross-origin-resource-policy",
  "x-xss-protection",
];

/**
 * Runs every configuration check without starting a server or creating files: the
 * environment and keys, debug, TLS, registration, mail, metrics, enforced two-factor, the
 * database, Redis and the security headers of a real response. A `fail` is something production would refuse.
 */
export async function runDoctor(env: NodeJS.ProcessEnv, cwd: string): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (status: CheckStatus, name: string, message: string): void => {
    checks.push({ status, name, message });
  };
  const { config, issues } = resolveConfig(env, { cwd, createMissingKeys: false });
  for (const issue of issues)
    add(issue.severity === "error" ? "fail" : "warn", issue.variable, issue.message);
  if (config === null) {
    add("fail", "configuration", "invalid: fix the lines above; live checks skipped");
    return checks;
  }
  const production = config.env === "production";

  checkKeys(config, env, add);
  add(config.debug ? "warn" : "pass", "debug", config.debug ? "on (development only)" : "off");
  checkTls(config, production, add);
  add(
    production && config.registration === "open" ? "warn" : "pass",
    "registration",
    config.registration,
  );
  if (config.smtp === null)
    add(
      production ? "warn" : "pass",
      "mail",
      production
        ? "SMTP_URL not set: reset mail refused"
        : "no SMTP_URL: mail is written to the log",
    );
  else add("pass", "mail", "SMTP configured");
  checkMetrics(config, add);
  checkSecondFactor(config, production, add);
  const lowered = hashingPriorityLowered();
  add(
    lowered ? "pass" : "warn",
    "hashing priority",
    lowered
      ? `Argon2id threads run at nice +${ARGON2_NICE_INCREMENT}, below request handling`
      : "@napi-rs/nice (piscina's optional dependency) is missing: Argon2id runs at normal priority, so a flood of sign-ins slows every other request; reinstall without --omit=optional",
  );

  await checkDatabaseAndHeaders(config, add);
  await checkRedis(config, add);
  return checks;
}

type Add = (status: CheckStatus, name: string, message: string) => void;

/**
 * REQUIRE_MFA and REAUTH_MINUTES: in production, admins signing in with a password alone is
 * worth a warning (they manage every account); anything stricter passes.
 */
function checkSecondFactor(config: Config, production: boolean, add: Add): void {
  const drift = config.totpDriftSteps;
  const stepUp =
    `re-authentication after ${config.reauthMinutes} min; TOTP codes accepted ` +
    (drift === 0 ? "in their own 30 s step only" : `±${drift} step${drift === 1 ? "" : "s"}`);
  if (config.requireMfa === "none")
    add(
      production ? "warn" : "pass",
      "two-factor",
      `optional for everyone (REQUIRE_MFA=none; admins too); ${stepUp}`,
    );
  else
    add(
      "pass",
      "two-factor",
      `required for ${config.requireMfa === "all" ? "every user" : "admins"}; ${stepUp}`,
    );
}

function checkKeys(config: Config, env: NodeJS.ProcessEnv, add: Add): void {
  for (const variable of ["SECRET_KEY", "MASTER_KEY"]) {
    const source = config.sources.get(variable) ?? "environment";
    add(
      source === "generated" ? "warn" : "pass",
      variable,
      `strong, from ${source === "generated" ? "a development key file" : source}`,
    );
  }
  add(
    "pass",
    "MASTER_KEY",
    `${config.masterKeys.length} key(s), current "${config.masterKeys[0]?.id}"`,
  );
  for (const variable of ["SECRET_KEY_FILE", "MASTER_KEY_FILE", "METRICS_TOKEN_FILE"]) {
    const path = env[variable];
    if (path === undefined || path === "") continue;
    try {
      const mode = statSync(path).mode & 0o777;
      if ((mode & 0o077) !== 0)
        add(
          "warn",
          variable,
          `${path} is readable by other users (mode ${mode.toString(8)}); chmod 600`,
        );
    } catch {
      // resolveConfig already reported an unreadable file.
    }
  }
}

function checkMetrics(config: Config, add: Add): void {
  if (config.metricsToken === null) {
    add("pass", "metrics", "off: no /metrics route (set METRICS_TOKEN to serve one)");
    return;
  }
  const source = config.sources.get("METRICS_TOKEN") ?? "environment";
  add("pass", "metrics", `/metrics needs METRICS_TOKEN as a bearer token (from ${source})`);
}

function checkTls(config: Config, production: boolean, add: Add): void {
  if (config.tls !== null) {
    try {
      const certificate = new X509Certificate(readFileSync(config.tls.certFile));
      const key = createPrivateKey(readFileSync(config.tls.keyFile));
      const expires = new Date(certificate.validTo);
      const days = Math.floor((expires.getTime() - Date.now()) / 86_400_000);
      if (!certificate.checkPrivateKey(key)) {
        add("fail", "tls", "TLS_KEY_FILE does not match TLS_CERT_FILE");
      } else if (expires.getTime() < Date.now()) {
        add("fail", "tls", `certificate expired on ${expires.toISOString()}`);
      } else {
        const status = days < 14 ? "warn" : "pass";
        add(status, "tls", `serving HTTPS directly; certificate valid for ${days} more days`);
      }
    } catch {
      add("fail", "tls", "cannot read or parse TLS_CERT_FILE / TLS_KEY_FILE");
    }
    return;
  }
  if (config.publicUrlIsHttps) {
    add("pass", "tls", "terminated by a proxy (PUBLIC_URL is https)");
    if (config.trustProxy === null)
      add(
        "warn",
        "TRUST_PROXY",
        "not set: client addresses and the https scheme from the proxy are not believed",
      );
    return;
  }
  if (config.allowInsecureHttp)
    add("warn", "tls", "ALLOW_INSECURE_HTTP=1: plain HTTP, no Secure cookies, no HSTS");
  else add(production ? "fail" : "warn", "tls", "plain HTTP (fine on a development machine)");
}

async function checkDatabaseAndHeaders(config: Config, add: Add): Promise<void> {
  let database: Awaited<ReturnType<typeof openDatabase>>;
  try {
    database = await openDatabase(config.database);
  } catch (error) {
    add("fail", "database", error instanceof Error ? error.message : "unreachable");
    return;
  }
  try {
    const pending = await pendingMigrations(database.db);
    add("pass", "database", `${describeDatabaseTarget(config.database)} reachable`);
    add(
      pending.length === 0 ? "pass" : "warn",
      "migrations",
      pending.length === 0 ? "up to date" : `${pending.length} pending: run \`strongroom migrate\``,
    );

    if (pending.length === 0) {
      const admins = await countAdministrators(database.db);
      if (admins > 0) add("pass", "administrators", `${admins} enabled`);
      else
        add(
          "warn",
          "administrators",
          "none yet: create one with `strongroom users create NAME --email E --role admin`",
        );
    } else {
      add("warn", "administrators", "unknown until the database is migrated");
    }

    const logger = createLogger({ level: "silent", pretty: false });
    // Only headers are checked: in-process counters and a log-only mailer are enough.
    const throttle = createThrottleStore({ redisUrl: null, logger });
    const mailer = createMailer({ smtp: null, env: config.env, logger });
    const app = await buildApp(config, { database, logger, throttle, mailer });
    try {
      const response = await app.inject({
        method: "GET",
        url: "/",
        headers: { accept: "text/html" },
      });
      const missing = REQUIRED_HEADERS.filter((name) => response.headers[name] === undefined);
      if (missing.length > 0) add("fail", "headers", `missing: ${missing.join(", ")}`);
      else add("pass", "headers", "CSP, frame, nosniff, referrer, permissions, COOP/CORP present");
    } finally {
      await app.close();
      await throttle.close();
    }
  } finally {
    await database.close();
  }
}

async function checkRedis(config: Config, add: Add): Promise<void> {
  if (config.redisUrl === null) {
    add(
      "pass",
      "redis",
      "not set: throttling counts are kept in this process (fine for one instance)",
    );
    return;
  }
  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  redis.on("error", () => {
    // Reported below through the failed PING.
  });
  try {
    await redis.connect();
    await redis.ping();
    add("pass", "redis", "reachable");
  } catch {
    add("fail", "redis", "REDIS_URL is set but the server cannot be reached");
  } finally {
    redis.disconnect();
  }
}

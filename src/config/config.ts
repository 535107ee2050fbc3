import { isIP } from "node:net";
import { resolve } from "node:path";
import { z } from "zod";
import type { DatabaseTarget } from "../db/url.js";
import { parseDatabaseUrl } from "../db/url.js";
import type { SecretBytes } from "../lib/secret-bytes.js";
import type { MasterKey } from "./keys.js";
import { resolveMetricsToken } from "./metrics-token.js";
import { resolveKeys } from "./resolve-keys.js";
import { defaultServiceCredential } from "./service-credentials.js";
import type { ValueSource } from "./sources.js";
import { readRawSettings } from "./sources.js";
import { plaintextBackendWarnings, tlsVerificationProblems } from "./tls-verification.js";

export type Environment = "production" | "development" | "test";
export type RegistrationMode = "open" | "invite" | "closed";
/** Who must have a second factor before their session or tokens can do anything. */
export type MfaRequirement = "none" | "admins" | "all";

/** The whole, validated configuration. Read once at start; never mutated. */
export interface Config {
  env: Environment;
  port: number;
  host: string;
  /** Origin users reach the service at, without a trailing slash. */
  publicUrl: string;
  /** True when `publicUrl` is https: Secure cookies and HSTS. */
  publicUrlIsHttps: boolean;
  secretKey: SecretBytes;
  /** First is current. */
  masterKeys: MasterKey[];
  database: DatabaseTarget;
  redisUrl: string | null;
  tls: { certFile: string; keyFile: string } | null;
  /** Proxy addresses/CIDRs whose X-Forwarded-* headers are believed; null trusts none. */
  trustProxy: string[] | null;
  debug: boolean;
  registration: RegistrationMode;
  smtp: { url: string; from: string } | null;
  session: { idleMinutes: number; absoluteHours: number };
  /** `REQUIRE_MFA`: whose accounts must enrol a second factor before doing anything else. */
  requireMfa: MfaRequirement;
  /**
   * `REAUTH_MINUTES`: how long a session's last proof of the password or a second factor
   * (sign-in, re-authentication) lets it reveal secrets, mint tokens, change members or the
   * account's own credentials without proving it again. Minutes.
   */
  reauthMinutes: number;
  /**
   * `API_RATE_LIMIT`: requests per minute each authenticated caller may make (an API token
   * each; a user's browser sessions together); 0 turns the limit off.
   */
  apiRateLimit: number;
  /**
   * `TOTP_DRIFT_STEPS`: 30-second steps of clock drift a TOTP code may have either way (0–2);
   * 0 accepts the current step only.
   */
  totpDriftSteps: number;
  /** Minimum password length in characters (NIST SP 800-63B-4: 15 for single-factor). */
  passwordMinLength: number;
  /** Argon2id cost; never below OWASP's m=19 MiB, t=2, p=1. */
  argon2: { memoryKiB: number; iterations: number; parallelism: number };
  /** Failed-login limits (docs/security.md explains the trade-offs). */
  loginThrottle: {
    /** Failures allowed per account from one address before that pair is blocked. */
    perAccountAddress: number;
    /** Failures allowed per account from all addresses before the account is locked. */
    perAccount: number;
    /** Failures allowed per address across all accounts. */
    perAddress: number;
    /** How long a block or lockout lasts, and the window failures are counted in. */
    lockoutMinutes: number;
  };
  allowInsecureHttp: boolean;
  /**
   * The bearer token `/metrics` requires; null turns metrics off (the route does not exist).
   * Prints as `[redacted]`.
   */
  metricsToken: SecretBytes | null;
  logLevel: string;
  /** `./data` under the working directory: generated keys and the default SQLite file. */
  dataDir: string;
  /** Where each setting came from, for `doctor`. */
  sources: ReadonlyMap<string, ValueSource>;
}

/** One finding about the configuration: errors stop start-up, warnings are printed once. */
export interface ConfigIssue {
  variable: string;
  severity: "error" | "warning";
  message: string;
}

/** Start-up refused: one line per problem, each naming its variable. Never a stack trace. */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super(issues.map((issue) => `${issue.variable}: ${issue.message}`).join("\n"));
    this.name = "ConfigError";
    this.issues = issues;
  }
}

const flag = z
  .string()
  .transform((text) => text.trim().toLowerCase())
  .pipe(
    z.enum(["1", "0", "true", "false", "yes", "no", "on", "off"], {
      error: "must be 1/0, true/false, yes/no or on/off",
    }),
  )
  .transform((text) => ["1", "true", "yes", "on"].includes(text));

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: `must be a whole number from ${min} to ${max}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { error: `must be at least ${min}` })
        .max(max, { error: `must be at most ${max}` }),
    );

const httpUrl = z
  .string()
  .refine((text) => URL.canParse(text) && /^https?:$/.test(new URL(text).protocol), {
    error: "must be an http:// or https:// URL",
  })
  .refine(
    (text) => {
      const url = new URL(text);
      return url.username === "" && url.password === "" && url.search === "" && url.hash === "";
    },
    { error: "must not contain credentials, a query or a fragment" },
  )
  .transform((text) => text.replace(/\/+$/, ""));

const proxyList = z
  .string()
  .transform((text) =>
    text
      .split(",")
      .map((part) => part.trim())
      .filter(Boolean),
  )
  .refine((entries) => entries.length > 0 && entries.every(isProxyAddress), {
    error:
      "must be a comma-separated list of IP addresses, CIDR ranges, or loopback/linklocal/uniquelocal",
  });

function isProxyAddress(entry: string): boolean {
  if (["loopback", "linklocal", "uniquelocal"].includes(entry)) return true;
  const [address, bits, extra] = entry.split("/");
  if (extra !== undefined || address === undefined) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (bits === undefined) return true;
  const max = family === 4 ? 32 : 128;
  return /^\d+$/.test(bits) && Number(bits) <= max;
}

/** The scalar variables of SPEC §2 (keys and DATABASE_URL are handled separately). */
const scalarSchema = z.object({
  NODE_ENV: z
    .enum(["production", "development", "test"], {
      error: "must be production, development or test",
    })
    .default("development"),
  PORT: integer(0, 65535).default(8080),
  HOST: z.string().min(1).default("127.0.0.1"),
  PUBLIC_URL: httpUrl.optional(),
  // Instances × pool size must stay below PostgreSQL's max_connections (docs/deployment.md).
  DATABASE_POOL_MAX: integer(1, 1000).optional(),
  REDIS_URL: z
    .string()
    .refine((text) => URL.canParse(text) && /^rediss?:$/.test(new URL(text).protocol), {
      error: "must be a redis:// or rediss:// URL",
    })
    // The client would take query parameters as options overriding Strongroom's timeouts and
    // TLS (an empty `tls=` turns TLS off); it is never given them, so none may be written.
    .refine((text) => !URL.canParse(text) || new URL(text).search === "", {
      error:
        "takes no query string (its parameters would override Strongroom's timeouts and TLS); use rediss:// for TLS and the path for the database number (/1)",
    })
    .optional(),
  TLS_CERT_FILE: z.string().optional(),
  TLS_KEY_FILE: z.string().optional(),
  TRUST_PROXY: proxyList.optional(),
  DEBUG: flag.default(false),
  REGISTRATION: z
    .enum(["open", "invite", "closed"], { error: "must be open, invite or closed" })
    .optional(),
  SMTP_URL: z
    .string()
    .refine((text) => URL.canParse(text) && /^smtps?:$/.test(new URL(text).protocol), {
      error: "must be an smtp:// or smtps:// URL",
    })
    .optional(),
  MAIL_FROM: z.email({ error: "must be an e-mail address" }).optional(),
  SESSION_IDLE_MINUTES: integer(1, 24 * 60).default(30),
  SESSION_ABSOLUTE_HOURS: integer(1, 30 * 24).default(12),
  REQUIRE_MFA: z
    .enum(["none", "admins", "all"], { error: "must be none, admins or all" })
    .default("none"),
  REAUTH_MINUTES: integer(1, 24 * 60).default(10),
  API_RATE_LIMIT: integer(0, 1_000_000).default(1200),
  TOTP_DRIFT_STEPS: integer(0, 2).default(1),
  ALLOW_INSECURE_HTTP: flag.default(false),
  PASSWORD_MIN_LENGTH: integer(8, 1024).default(15),
  ARGON2_MEMORY_KIB: integer(19_456, 4_194_304).default(19_456),
  ARGON2_ITERATIONS: integer(2, 100).default(2),
  ARGON2_PARALLELISM: integer(1, 16).default(1),
  LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: integer(1, 1000).default(5),
  LOGIN_MAX_FAILURES_PER_ACCOUNT: integer(1, 10_000).default(20),
  LOGIN_MAX_FAILURES_PER_ADDRESS: integer(1, 100_000).default(100),
  LOGIN_LOCKOUT_MINUTES: integer(1, 24 * 60).default(15),
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], {
      error: "must be a pino level",
    })
    .optional(),
});

export interface ResolveOptions {
  /** Working directory: `.env`, `./data`, relative paths. */
  cwd: string;
  /** Create missing development keys in `./data` (false for `doctor`, which only looks). */
  createMissingKeys: boolean;
}

/**
 * Reads and checks every setting. Returns the config when there are no errors, plus every
 * finding (errors and warnings). Never throws for bad input; `loadConfig` is the strict form.
 */
export function resolveConfig(
  env: NodeJS.ProcessEnv,
  options: ResolveOptions,
): { config: Config | null; issues: ConfigIssue[] } {
  const raw = readRawSettings(env, options.cwd);
  const issues: ConfigIssue[] = raw.problems.map(([variable, message]) => ({
    variable,
    severity: "error",
    message,
  }));
  const error = (variable: string, message: string): void => {
    issues.push({ variable, severity: "error", message });
  };
  const warn = (variable: string, message: string): void => {
    issues.push({ variable, severity: "warning", message });
  };

  const parsed = scalarSchema.safeParse(Object.fromEntries(raw.values));
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      error(String(issue.path[0] ?? "environment"), issue.message);
    return { config: null, issues };
  }
  const s = parsed.data;
  const production = s.NODE_ENV === "production";
  const dataDir = resolve(options.cwd, "data");

  let database: DatabaseTarget | null = null;
  try {
    database = parseDatabaseUrl(raw.values.get("DATABASE_URL") ?? "sqlite://./data/strongroom.db");
    if (database.kind === "sqlite" && database.path !== ":memory:") {
      database = { ...database, path: resolve(options.cwd, database.path) };
    }
  } catch (cause) {
    error("DATABASE_URL", cause instanceof Error ? cause.message : "is malformed");
  }
  if (s.DATABASE_POOL_MAX !== undefined && database !== null) {
    if (database.kind === "postgres") database = { ...database, poolMax: s.DATABASE_POOL_MAX };
    else warn("DATABASE_POOL_MAX", "has no effect on SQLite, which uses one connection");
  }

  const keys = resolveKeys(raw, { production, dataDir, createMissing: options.createMissingKeys });
  for (const issue of keys.issues) issues.push(issue);
  const metrics = resolveMetricsToken(raw.values.get("METRICS_TOKEN"), {
    production,
    secretKey: keys.secretKey,
    masterKeys: keys.masterKeys,
  });
  for (const issue of metrics.issues) issues.push(issue);

  let tls: Config["tls"] = null;
  if ((s.TLS_CERT_FILE === undefined) !== (s.TLS_KEY_FILE === undefined)) {
    error(
      s.TLS_CERT_FILE === undefined ? "TLS_CERT_FILE" : "TLS_KEY_FILE",
      "TLS_CERT_FILE and TLS_KEY_FILE must be set together",
    );
  } else if (s.TLS_CERT_FILE !== undefined && s.TLS_KEY_FILE !== undefined) {
    tls = {
      certFile: resolve(options.cwd, s.TLS_CERT_FILE),
      keyFile: resolve(options.cwd, s.TLS_KEY_FILE),
    };
  }

  const publicUrl =
    s.PUBLIC_URL ?? (tls ? `https://127.0.0.1:${s.PORT}` : `http://127.0.0.1:${s.PORT}`);
  const publicUrlIsHttps = publicUrl.startsWith("https:");

  if (production) {
    if (s.DEBUG) error("DEBUG", "must be off in production: it would show internals to clients");
    if (!publicUrlIsHttps && tls === null) {
      if (s.ALLOW_INSECURE_HTTP) {
        warn(
          "ALLOW_INSECURE_HTTP",
          "serving production over plain HTTP: cookies are not Secure and HSTS is off",
        );
      } else {
        error(
          "PUBLIC_URL",
          "must be https:// in production, or set TLS_CERT_FILE/TLS_KEY_FILE (ALLOW_INSECURE_HTTP=1 overrides, not recommended)",
        );
      }
    }
    if (s.SMTP_URL === undefined && s.REGISTRATION === "open")
      error(
        "REGISTRATION",
        "open needs SMTP_URL in production: a new account is created only from the link mailed to its address",
      );
    else if (s.SMTP_URL === undefined)
      warn("SMTP_URL", "not set: password-reset mail cannot be sent in production");
    if (s.REGISTRATION === "open")
      warn(
        "REGISTRATION",
        "open in production: anyone who can reach the server can create an account",
      );
  } else if (s.DEBUG && s.NODE_ENV === "development") {
    warn("DEBUG", "on: error responses include internal details");
  }
  // Default passwords of the services: refused in production, a warning elsewhere (a
  // development database with postgres:postgres is common and harmless on a laptop).
  for (const variable of ["DATABASE_URL", "REDIS_URL", "SMTP_URL"] as const) {
    const url = raw.values.get(variable);
    const reason = url === undefined ? null : defaultServiceCredential(url);
    if (reason !== null) (production ? error : warn)(variable, reason);
  }
  // Settings that turn off the certificate checks of the TLS clients (ASVS 5.0 12.3.2): an
  // attacker on the path could then impersonate the database, Redis or mail server and read
  // the credentials and data sent to it. Refused in production, a warning elsewhere (a
  // development database with a throwaway certificate is common).
  for (const problem of tlsVerificationProblems(raw.values))
    (production ? error : warn)(problem.variable, problem.message);
  for (const problem of plaintextBackendWarnings(raw.values))
    warn(problem.variable, problem.message);
  if (s.SMTP_URL !== undefined && s.MAIL_FROM === undefined)
    error("MAIL_FROM", "is required when SMTP_URL is set");
  if (s.SESSION_IDLE_MINUTES > s.SESSION_ABSOLUTE_HOURS * 60) {
    error("SESSION_IDLE_MINUTES", "must not exceed SESSION_ABSOLUTE_HOURS");
  }

  if (
    issues.some((issue) => issue.severity === "error") ||
    database === null ||
    keys.secretKey === null
  ) {
    return { config: null, issues };
  }

  const config: Config = {
    env: s.NODE_ENV,
    port: s.PORT,
    host: s.HOST,
    publicUrl,
    publicUrlIsHttps,
    secretKey: keys.secretKey,
    masterKeys: keys.masterKeys,
    database,
    redisUrl: s.REDIS_URL ?? null,
    tls,
    trustProxy: s.TRUST_PROXY ?? null,
    // DEBUG only ever takes effect in development; test and production never show internals.
    debug: s.DEBUG && s.NODE_ENV === "development",
    registration: s.REGISTRATION ?? (production ? "invite" : "open"),
    smtp:
      s.SMTP_URL !== undefined && s.MAIL_FROM !== undefined
        ? { url: s.SMTP_URL, from: s.MAIL_FROM }
        : null,
    session: { idleMinutes: s.SESSION_IDLE_MINUTES, absoluteHours: s.SESSION_ABSOLUTE_HOURS },
    requireMfa: s.REQUIRE_MFA,
    reauthMinutes: s.REAUTH_MINUTES,
    apiRateLimit: s.API_RATE_LIMIT,
    totpDriftSteps: s.TOTP_DRIFT_STEPS,
    passwordMinLength: s.PASSWORD_MIN_LENGTH,
    argon2: {
      memoryKiB: s.ARGON2_MEMORY_KIB,
      iterations: s.ARGON2_ITERATIONS,
      parallelism: s.ARGON2_PARALLELISM,
    },
    loginThrottle: {
      perAccountAddress: s.LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS,
      perAccount: s.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      perAddress: s.LOGIN_MAX_FAILURES_PER_ADDRESS,
      lockoutMinutes: s.LOGIN_LOCKOUT_MINUTES,
    },
    allowInsecureHttp: s.ALLOW_INSECURE_HTTP,
    metricsToken: metrics.token,
    logLevel: s.LOG_LEVEL ?? (s.NODE_ENV === "test" ? "silent" : "info"),
    dataDir,
    sources: new Map([...raw.sources, ...keys.sources]),
  };
  return { config, issues };
}

/**
 * The configuration for `serve` and the CLI. Throws `ConfigError` (one line per problem)
 * when anything is wrong; returns the config and the warnings to print once.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv,
  cwd: string,
): { config: Config; warnings: ConfigIssue[] } {
  const { config, issues } = resolveConfig(env, { cwd, createMissingKeys: true });
  const errors = issues.filter((issue) => issue.severity === "error");
  if (config === null || errors.length > 0) throw new ConfigError(errors);
  return { config, warnings: issues.filter((issue) => issue.severity === "warning") };
}

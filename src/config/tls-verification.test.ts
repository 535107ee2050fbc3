import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import pg from "pg";
import {
  productionEnv as baseProductionEnv,
  refusal,
  strongKey,
  tempDir,
} from "../../test/helpers/config.js";
import { withoutQuery } from "../throttle/redis-connection.js";
import { loadConfig } from "./config.js";
import {
  plaintextBackendWarnings,
  postgresUrlSkipsVerification,
  tlsVerificationProblems,
} from "./tls-verification.js";

/** A password that is not a default one, so only the TLS check can object. */
const PASSWORD = randomBytes(18).toString("base64url");
/** pg reads `sslrootcert=` files while parsing; any text will do for that. */
const CA_FILE = join(tempDir(), "ca.pem");
writeFileSync(CA_FILE, "not checked while parsing\n");

/** A production environment that passes every check, mail included; each test sets one thing. */
const productionEnv = (overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv =>
  baseProductionEnv({
    SMTP_URL: `smtps://vault:${PASSWORD}@mail.example.com`,
    MAIL_FROM: "vault@example.com",
    ...overrides,
  });

const postgresUrl = (query: string): string =>
  `postgres://strongroom:${PASSWORD}@db.internal:5432/strongroom?${query}`;

/**
 * What pg itself makes of `url`: true when the TLS options it would hand to `tls.connect`
 * skip the certificate chain check or the host-name check. This is the ground truth the check
 * is held to, so it cannot refuse a parameter pg ignores or miss one pg honours.
 */
function pgSkipsVerification(url: string): boolean {
  const ssl = pgTlsOptions(url);
  if (typeof ssl !== "object" || ssl === null) return false;
  const options = ssl as { rejectUnauthorized?: unknown; checkServerIdentity?: unknown };
  return options.rejectUnauthorized === false || typeof options.checkServerIdentity === "function";
}

/**
 * pg's TLS setting for `url`, as a client built from it holds it: false for no TLS, else
 * true, a string or the options object for `tls.connect` (typed `boolean`, which it is not).
 */
function pgTlsOptions(url: string): unknown {
  return new pg.Client({ connectionString: url }).ssl;
}

/** Whether pg would use TLS at all for `url`. */
function pgUsesTls(url: string): boolean {
  return Boolean(pgTlsOptions(url));
}

/** Asserts start-up is refused with one line naming `variable`, never the password. */
function refused(env: NodeJS.ProcessEnv, variable: string, cwd = tempDir()): string {
  const { line, message } = refusal(env, variable, cwd);
  assert.ok(!message.includes(PASSWORD), "the URL's password is never printed");
  return line;
}

/** Forms of `DATABASE_URL` under which pg does not fully verify the server. */
const REFUSED_DATABASE_QUERIES = [
  "sslmode=no-verify",
  "ssl=no-verify",
  "sslmode=no-verify&schema=tenant_a",
  "uselibpqcompat=true&sslmode=prefer",
  "uselibpqcompat=true&sslmode=require",
  `uselibpqcompat=true&sslmode=require&sslrootcert=${CA_FILE}`,
  `uselibpqcompat=true&sslmode=verify-ca&sslrootcert=${CA_FILE}`,
  // Repeated: pg takes the last, the check refuses if any would loosen it.
  "sslmode=verify-full&sslmode=no-verify",
];

/** TLS forms under which pg verifies the chain and the host name (all of them TLS). */
const ACCEPTED_DATABASE_QUERIES = [
  "sslmode=verify-full",
  `sslmode=verify-full&sslrootcert=${CA_FILE}`,
  // Without uselibpqcompat, pg 8 treats these as verify-full (and warns it will change).
  "sslmode=require",
  "sslmode=prefer",
  `sslmode=verify-ca&sslrootcert=${CA_FILE}`,
  "ssl=true",
  "ssl=1",
  "uselibpqcompat=true&sslmode=verify-full",
  // Parameters pg ignores: they do not reach the TLS options, so they loosen nothing.
  "sslmode=verify-full&rejectUnauthorized=false",
  "ssl=true&ssl.rejectUnauthorized=false",
  "sslmode=verify-full&checkServerIdentity=false",
];

describe("DATABASE_URL forms that turn off certificate checks", () => {
  for (const query of REFUSED_DATABASE_QUERIES) {
    it(`refuses ?${query.replace(CA_FILE, "…")} in production, as pg really skips a check`, () => {
      const url = postgresUrl(query);
      assert.equal(pgSkipsVerification(url), true, "pg's own parsing loosens verification");
      assert.notEqual(postgresUrlSkipsVerification(url), null);
      const line = refused(productionEnv({ DATABASE_URL: url }), "DATABASE_URL");
      assert.match(line, /certificate|host-name/);
      assert.match(line, /verify-full/, "says what to use instead");
      assert.ok(!line.includes("db.internal"), "names the parameter, not the URL");
    });
  }

  for (const query of ACCEPTED_DATABASE_QUERIES) {
    it(`accepts ?${query.replace(CA_FILE, "…")}: pg verifies chain and host name`, () => {
      const url = postgresUrl(query);
      assert.equal(pgUsesTls(url), true);
      assert.equal(pgSkipsVerification(url), false, "pg's own parsing keeps verification on");
      assert.equal(postgresUrlSkipsVerification(url), null);
      const { warnings } = loadConfig(productionEnv({ DATABASE_URL: url }), tempDir());
      assert.deepEqual(warnings, []);
    });
  }

  it("ignores URLs that are not PostgreSQL ones", () => {
    for (const url of [
      "sqlite://./x.db?sslmode=no-verify",
      "not a url",
      "mysql://h/d?ssl=no-verify",
    ])
      assert.equal(postgresUrlSkipsVerification(url), null, url);
  });

  it("refuses DATABASE_URL_FILE contents the same way", () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, "database-url"), postgresUrl("sslmode=no-verify"), { mode: 0o600 });
    const line = refused(
      productionEnv({ DATABASE_URL: undefined, DATABASE_URL_FILE: "database-url" }),
      "DATABASE_URL",
      cwd,
    );
    assert.match(line, /^DATABASE_URL: sslmode=no-verify /);
  });

  it("only warns outside production", () => {
    for (const env of ["development", "test"] as const) {
      const { warnings } = loadConfig(
        {
          NODE_ENV: env,
          SECRET_KEY: strongKey(),
          MASTER_KEY: `k1:${strongKey()}`,
          DATABASE_URL: postgresUrl("sslmode=no-verify"),
        },
        tempDir(),
      );
      assert.deepEqual(
        warnings.map((w) => w.variable),
        ["DATABASE_URL"],
        env,
      );
      assert.ok(!warnings[0]?.message.includes(PASSWORD));
    }
  });
});

describe("environment variables that turn off certificate checks", () => {
  it("refuses PGSSLMODE=no-verify with a PostgreSQL database, as pg really honours it", () => {
    const saved = process.env.PGSSLMODE;
    process.env.PGSSLMODE = "no-verify";
    try {
      // pg reads PGSSLMODE only when the URL says nothing about TLS.
      assert.equal(pgSkipsVerification(postgresUrl("application_name=x")), true);
      assert.equal(pgSkipsVerification(postgresUrl("sslmode=verify-full")), false);
    } finally {
      if (saved === undefined) delete process.env.PGSSLMODE;
      else process.env.PGSSLMODE = saved;
    }
    const line = refused(
      productionEnv({ DATABASE_URL: postgresUrl("sslmode=verify-full"), PGSSLMODE: "no-verify" }),
      "PGSSLMODE",
    );
    assert.match(line, /^PGSSLMODE: no-verify turns off/);
    const sqlite = loadConfig(productionEnv({ PGSSLMODE: "no-verify" }), tempDir());
    assert.deepEqual(sqlite.warnings, [], "meaningless without PostgreSQL");
    for (const mode of ["verify-full", "require", "disable"])
      assert.deepEqual(
        tlsVerificationProblems(
          new Map([
            ["DATABASE_URL", postgresUrl("sslmode=verify-full")],
            ["PGSSLMODE", mode],
          ]),
        ),
        [],
        mode,
      );
  });

  it("refuses NODE_TLS_REJECT_UNAUTHORIZED=0, which turns off every TLS client's checks", () => {
    const line = refused(
      productionEnv({ NODE_TLS_REJECT_UNAUTHORIZED: "0" }),
      "NODE_TLS_REJECT_UNAUTHORIZED",
    );
    assert.match(line, /NODE_EXTRA_CA_CERTS/, "says how to trust a private CA instead");
    // Node turns checks off only for exactly "0".
    const { warnings } = loadConfig(
      productionEnv({ NODE_TLS_REJECT_UNAUTHORIZED: "1" }),
      tempDir(),
    );
    assert.deepEqual(warnings, []);
    const dev = loadConfig(
      {
        NODE_ENV: "development",
        SECRET_KEY: strongKey(),
        MASTER_KEY: `k1:${strongKey()}`,
        NODE_TLS_REJECT_UNAUTHORIZED: "0",
      },
      tempDir(),
    );
    assert.deepEqual(
      dev.warnings.map((w) => w.variable),
      ["NODE_TLS_REJECT_UNAUTHORIZED"],
    );
  });
});

/**
 * What ioredis itself makes of `url` (the options a client built from it holds, without
 * connecting): whether it will use TLS, and whether those TLS options skip the chain check.
 */
function ioredisTls(url: string): { tls: boolean; skipsVerification: boolean } {
  const client = new Redis(url, { lazyConnect: true });
  const tls: unknown = client.options.tls;
  client.disconnect();
  const options = typeof tls === "object" && tls !== null ? (tls as Record<string, unknown>) : {};
  return { tls: Boolean(tls), skipsVerification: options.rejectUnauthorized === false };
}

describe("REDIS_URL", () => {
  const redisUrl = (query: string): string => `rediss://:${PASSWORD}@cache.internal:6380/${query}`;

  // Each would become an ioredis option overriding Strongroom's; an empty tls= drops TLS.
  const QUERIES = ["?tls=", "?tls", "?tls=false", "?rejectUnauthorized=false", "?connectTimeout=1"];

  for (const query of QUERIES) {
    it(`refuses ${query} in every environment, naming neither host nor password`, () => {
      for (const env of [
        productionEnv({ REDIS_URL: redisUrl(query) }),
        { ...productionEnv({ REDIS_URL: redisUrl(query) }), NODE_ENV: "development" },
      ]) {
        const line = refused(env, "REDIS_URL");
        assert.match(line, /takes no query string/);
        assert.ok(!line.includes("cache.internal") && !line.includes(PASSWORD), line);
      }
    });
  }

  it("hands the client the URL without its query: an empty tls= cannot drop TLS", () => {
    assert.deepEqual(ioredisTls(redisUrl("?tls=")), { tls: false, skipsVerification: false });
    assert.equal(withoutQuery(redisUrl("?tls=")), redisUrl(""));
    assert.deepEqual(ioredisTls(withoutQuery(redisUrl("?tls="))), {
      tls: true,
      skipsVerification: false,
    });
  });

  it("accepts rediss:// and redis:// with a database number in the path", () => {
    const { warnings } = loadConfig(productionEnv({ REDIS_URL: redisUrl("") }), tempDir());
    assert.deepEqual(warnings, []);
    const plain = loadConfig(
      productionEnv({ REDIS_URL: "redis://cache.internal:6379/1" }),
      tempDir(),
    ).warnings;
    assert.deepEqual(
      plain.map((w) => w.variable),
      ["REDIS_URL"],
      "accepted, with the plain-text warning",
    );
    assert.match(plain[0]?.message ?? "", /plain text across the network/);
  });
});

describe("backends in plain text across the network (warned, never refused)", () => {
  const warned = (values: Record<string, string>): string[] =>
    plaintextBackendWarnings(new Map(Object.entries(values))).map((w) => w.variable);

  it("warns about PostgreSQL off loopback without an encrypting sslmode", () => {
    for (const url of [
      "postgres://app@db.internal/strongroom",
      "postgresql://app@10.0.0.5:5432/strongroom?sslmode=disable",
      "postgres://app@db.internal/strongroom?sslmode=allow",
      "postgres://app@[2001:db8::5]/strongroom",
    ])
      assert.deepEqual(warned({ DATABASE_URL: url }), ["DATABASE_URL"], url);
  });

  it("is quiet for loopback, Unix sockets, TLS and SQLite", () => {
    for (const url of [
      "postgres://app@127.0.0.1/strongroom",
      "postgres://app@localhost:5432/strongroom",
      "postgres://app@[::1]/strongroom",
      "postgres://app@/strongroom?host=%2Fvar%2Frun%2Fpostgresql",
      "postgres://app@db.internal/strongroom?sslmode=verify-full",
      "postgres://app@db.internal/strongroom?sslmode=require",
      "postgres://app@db.internal/strongroom?ssl=true",
      "sqlite://./data/strongroom.db",
    ])
      assert.deepEqual(warned({ DATABASE_URL: url }), [], url);
    assert.deepEqual(
      warned({ DATABASE_URL: "postgres://app@db.internal/s", PGSSLMODE: "verify-full" }),
      [],
      "PGSSLMODE counts when the URL says nothing",
    );
  });

  it("warns about redis:// off loopback, never rediss:// or loopback", () => {
    assert.deepEqual(warned({ REDIS_URL: "redis://cache.internal:6379" }), ["REDIS_URL"]);
    for (const url of [
      "rediss://cache.internal:6380",
      "redis://127.0.0.1:6379",
      "redis://localhost",
    ])
      assert.deepEqual(warned({ REDIS_URL: url }), [], url);
  });

  it("never names the URL or its password, and production still starts", () => {
    const url = `postgres://app:${PASSWORD}@db.internal/strongroom`;
    const { warnings } = loadConfig(productionEnv({ DATABASE_URL: url }), tempDir());
    assert.deepEqual(
      warnings.map((w) => w.variable),
      ["DATABASE_URL"],
    );
    assert.ok(!JSON.stringify(warnings).includes(PASSWORD));
    assert.ok(!JSON.stringify(warnings).includes("db.internal"));
  });
});

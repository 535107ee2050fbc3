import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { inspect } from "node:util";
import { productionEnv, refusal, strongKey, tempDir } from "../../test/helpers/config.js";
import { loadConfig, resolveConfig } from "./config.js";

/** Asserts start-up is refused with one line naming `variable`, and returns that line. */
const refused = (env: NodeJS.ProcessEnv, variable: string, cwd = tempDir()): string =>
  refusal(env, variable, cwd).line;

describe("configuration in production", () => {
  it("accepts a complete, strong configuration", () => {
    const { config, warnings } = loadConfig(
      productionEnv({ SMTP_URL: "smtp://mail:25", MAIL_FROM: "vault@example.com" }),
      tempDir(),
    );
    assert.equal(config.env, "production");
    assert.equal(config.registration, "invite");
    assert.equal(config.publicUrlIsHttps, true);
    assert.equal(config.masterKeys[0]?.id, "k1");
    assert.deepEqual(warnings, []);
  });

  it("refuses default passwords in DATABASE_URL, REDIS_URL and SMTP_URL, never echoing them", () => {
    for (const [variable, url] of [
      ["DATABASE_URL", "postgres://strongroom:postgres@db.internal:5432/strongroom"],
      ["DATABASE_URL", "postgres://app:App@db.internal/strongroom"],
      ["REDIS_URL", "redis://default:ChangeMe@cache.internal:6379"],
      ["REDIS_URL", "rediss://guest:guest@cache.internal:6380"],
      ["SMTP_URL", "smtps://vault:password@mail.example.com"],
      ["SMTP_URL", "smtp://vault:p%61ssword@mail.example.com"],
    ] as const) {
      const line = refused(
        productionEnv({
          [variable]: url,
          ...(variable === "SMTP_URL" ? { MAIL_FROM: "v@x.io" } : {}),
        }),
        variable,
      );
      assert.match(line, /password/, url);
      const secret = decodeURIComponent(new URL(url).password);
      assert.ok(!line.includes(`:${secret}@`) && !line.includes(url), `${line} echoes ${url}`);
    }
    const strong = randomBytes(24).toString("base64url");
    const { warnings } = loadConfig(
      productionEnv({
        DATABASE_URL: `postgres://strongroom:${strong}@db.internal:5432/strongroom?sslmode=verify-full`,
        REDIS_URL: "rediss://cache.internal:6380",
        SMTP_URL: `smtps://vault:${strong}@mail.example.com`,
        MAIL_FROM: "vault@example.com",
      }),
      tempDir(),
    );
    assert.deepEqual(warnings, [], "strong or absent passwords pass");
    const dev = loadConfig(
      {
        NODE_ENV: "development",
        SECRET_KEY: strongKey(),
        MASTER_KEY: `k1:${strongKey()}`,
        DATABASE_URL: "postgres://postgres:postgres@127.0.0.1:5432/dev",
      },
      tempDir(),
    );
    assert.ok(
      dev.warnings.some((w) => w.variable === "DATABASE_URL" && /default password/.test(w.message)),
      "development only warns",
    );
  });

  it("refuses a missing SECRET_KEY", () => {
    assert.match(
      refused(productionEnv({ SECRET_KEY: undefined }), "SECRET_KEY"),
      /required in production/,
    );
  });

  it("refuses a missing MASTER_KEY", () => {
    assert.match(
      refused(productionEnv({ MASTER_KEY: undefined }), "MASTER_KEY"),
      /required in production/,
    );
  });

  it("refuses keys that decode to fewer than 32 bytes", () => {
    assert.match(
      refused(productionEnv({ SECRET_KEY: randomBytes(16).toString("hex") }), "SECRET_KEY"),
      /16 bytes/,
    );
    assert.match(
      refused(
        productionEnv({ MASTER_KEY: `k1:${randomBytes(31).toString("base64")}` }),
        "MASTER_KEY",
      ),
      /31 bytes/,
    );
  });

  for (const placeholder of [
    "changeme",
    "secret",
    "dev",
    "API_KEY_GOES_HERE",
    "changeme".repeat(8),
    "your-secret-key-goes-here-1234567890abcdefgh",
  ]) {
    it(`refuses the placeholder SECRET_KEY ${JSON.stringify(placeholder.slice(0, 20))}`, () => {
      refused(productionEnv({ SECRET_KEY: placeholder }), "SECRET_KEY");
    });
  }

  for (const [label, key] of [
    ["a single repeated character", "a".repeat(64)],
    ["a repeating pattern", "0123456789abcdef".repeat(4)],
    ["a byte sequence", Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString("hex")],
    ["zero bytes in base64", Buffer.alloc(32).toString("base64")],
  ] as const) {
    it(`refuses a low-entropy SECRET_KEY: ${label}`, () => {
      assert.match(
        refused(productionEnv({ SECRET_KEY: key }), "SECRET_KEY"),
        /entropy|repeated|placeholder/,
      );
    });
  }

  it("refuses a low-entropy master key and names it by id", () => {
    const line = refused(
      productionEnv({
        MASTER_KEY: `k1:${strongKey()},old:${Buffer.alloc(32, 7).toString("base64")}`,
      }),
      "MASTER_KEY",
    );
    assert.match(line, /"old"/);
  });

  it("refuses SECRET_KEY equal to a master key", () => {
    const key = strongKey();
    assert.match(
      refused(productionEnv({ SECRET_KEY: key, MASTER_KEY: `k1:${key}` }), "SECRET_KEY"),
      /differ/,
    );
  });

  it("refuses open registration without SMTP_URL: its confirmation mail could never be sent", () => {
    assert.match(refused(productionEnv({ REGISTRATION: "open" }), "REGISTRATION"), /SMTP_URL/);
    const { config, warnings } = loadConfig(
      productionEnv({
        REGISTRATION: "open",
        SMTP_URL: "smtp://mail:25",
        MAIL_FROM: "vault@example.com",
      }),
      tempDir(),
    );
    assert.equal(config.registration, "open");
    assert.ok(warnings.some((w) => w.variable === "REGISTRATION"));
  });

  it("refuses DEBUG", () => {
    for (const value of ["1", "true", "on"]) refused(productionEnv({ DEBUG: value }), "DEBUG");
  });

  it("refuses a plain-http PUBLIC_URL without TLS, unless ALLOW_INSECURE_HTTP=1", () => {
    assert.match(
      refused(productionEnv({ PUBLIC_URL: "http://vault.example.com" }), "PUBLIC_URL"),
      /https/,
    );
    const { config, warnings } = loadConfig(
      productionEnv({ PUBLIC_URL: "http://vault.example.com", ALLOW_INSECURE_HTTP: "1" }),
      tempDir(),
    );
    assert.equal(config.allowInsecureHttp, true);
    assert.ok(warnings.some((w) => w.variable === "ALLOW_INSECURE_HTTP"));
  });

  it("never echoes a key in its messages", () => {
    const key = "changeme-but-long-enough-to-pass-the-length-check";
    try {
      loadConfig(productionEnv({ SECRET_KEY: key }), tempDir());
      assert.fail("should refuse");
    } catch (error) {
      assert.ok(!(error as Error).message.includes(key));
    }
  });

  it("does not generate key files in production", () => {
    const cwd = tempDir();
    refused(productionEnv({ SECRET_KEY: undefined, MASTER_KEY: undefined }), "MASTER_KEY", cwd);
    assert.throws(() => statSync(join(cwd, "data", "secret_key")), /ENOENT/);
  });
});

describe("configuration values", () => {
  const devEnv = (overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv => ({
    NODE_ENV: "development",
    SECRET_KEY: strongKey(),
    MASTER_KEY: `k1:${strongKey()}`,
    ...overrides,
  });

  it("has the SPEC defaults", () => {
    const { config } = loadConfig(devEnv(), tempDir());
    assert.equal(config.port, 8080);
    assert.equal(config.host, "127.0.0.1");
    assert.equal(config.publicUrl, "http://127.0.0.1:8080");
    assert.equal(config.registration, "open");
    assert.deepEqual(config.session, { idleMinutes: 30, absoluteHours: 12 });
    assert.equal(config.requireMfa, "none");
    assert.equal(config.reauthMinutes, 10);
    assert.equal(config.apiRateLimit, 1200, "per caller per minute");
    assert.equal(config.totpDriftSteps, 1);
    assert.equal(config.database.kind, "sqlite");
    assert.equal(config.redisUrl, null);
    assert.equal(config.trustProxy, null);
  });

  for (const [variable, value] of [
    ["DATABASE_URL", "mysql://root@localhost/db"],
    ["DATABASE_URL", "sqlite://"],
    ["DATABASE_URL", "not a url"],
    ["PORT", "eighty"],
    ["PORT", "70000"],
    ["PUBLIC_URL", "ftp://example.com"],
    ["PUBLIC_URL", "https://user:pw@example.com"],
    ["REGISTRATION", "sometimes"],
    ["DEBUG", "maybe"],
    ["TRUST_PROXY", "true"],
    ["TRUST_PROXY", "10.0.0.0/99"],
    ["REDIS_URL", "http://localhost:6379"],
    ["SESSION_IDLE_MINUTES", "0"],
    ["NODE_ENV", "staging"],
    ["MASTER_KEY", "no-colon-here"],
    ["MASTER_KEY", `bad id!:${randomBytes(32).toString("base64")}`],
    ["SECRET_KEY", "not base64 or hex!"],
    ["DATABASE_POOL_MAX", "0"],
    ["DATABASE_POOL_MAX", "1001"],
    ["DATABASE_POOL_MAX", "ten"],
    ["REQUIRE_MFA", "everyone"],
    ["REQUIRE_MFA", "ADMINS "],
    ["REAUTH_MINUTES", "0"],
    ["REAUTH_MINUTES", "ten"],
    ["API_RATE_LIMIT", "-1"],
    ["API_RATE_LIMIT", "1.5"],
    ["API_RATE_LIMIT", "1000001"],
    ["API_RATE_LIMIT", "unlimited"],
    ["TOTP_DRIFT_STEPS", "3"],
    ["TOTP_DRIFT_STEPS", "-1"],
  ] as const) {
    it(`refuses ${variable}=${JSON.stringify(value).slice(0, 30)} with a line naming it`, () => {
      refused(devEnv({ [variable]: value }), variable);
    });
  }

  it("sizes the PostgreSQL pool from DATABASE_POOL_MAX; on SQLite warns that it does nothing", () => {
    const postgresUrl = "postgres://app:pw@db.internal:5432/strongroom";
    const sized = loadConfig(
      devEnv({ DATABASE_URL: postgresUrl, DATABASE_POOL_MAX: "4" }),
      tempDir(),
    ).config;
    assert.equal(sized.database.kind === "postgres" && sized.database.poolMax, 4);
    const unsized = loadConfig(devEnv({ DATABASE_URL: postgresUrl }), tempDir()).config;
    assert.equal(unsized.database.kind === "postgres" && unsized.database.poolMax, undefined);
    const { warnings } = loadConfig(devEnv({ DATABASE_POOL_MAX: "4" }), tempDir());
    assert.deepEqual(
      warnings.map((w) => w.variable),
      ["DATABASE_POOL_MAX"],
    );
  });

  it("refuses duplicate master key ids and keys longer than 32 bytes", () => {
    refused(devEnv({ MASTER_KEY: `a:${strongKey()},a:${strongKey()}` }), "MASTER_KEY");
    refused(devEnv({ MASTER_KEY: `a:${randomBytes(48).toString("base64")}` }), "MASTER_KEY");
  });

  it("requires TLS_CERT_FILE and TLS_KEY_FILE together", () => {
    refused(devEnv({ TLS_CERT_FILE: "cert.pem" }), "TLS_KEY_FILE");
  });

  it("reads NAME_FILE variants and refuses both forms at once", () => {
    const cwd = tempDir();
    const secret = strongKey();
    writeFileSync(join(cwd, "secret.txt"), `${secret}\n`, { mode: 0o600 });
    const { config } = loadConfig(
      devEnv({ SECRET_KEY: undefined, SECRET_KEY_FILE: "secret.txt" }),
      cwd,
    );
    assert.ok(config.secretKey.reveal().equals(Buffer.from(secret, "base64")));
    assert.equal(config.sources.get("SECRET_KEY"), "file");
    refused(devEnv({ SECRET_KEY_FILE: "secret.txt" }), "SECRET_KEY", cwd);
    refused(
      devEnv({ SECRET_KEY: undefined, SECRET_KEY_FILE: "missing.txt" }),
      "SECRET_KEY_FILE",
      cwd,
    );
  });

  it("reads .env from the working directory; the environment wins", () => {
    const cwd = tempDir();
    writeFileSync(join(cwd, ".env"), "PORT=9090\nHOST=0.0.0.0\n# comment\nREGISTRATION=closed\n");
    const { config } = loadConfig(devEnv({ HOST: "127.0.0.2" }), cwd);
    assert.equal(config.port, 9090);
    assert.equal(config.registration, "closed");
    assert.equal(config.host, "127.0.0.2");
  });

  it("parses TRUST_PROXY lists", () => {
    const { config } = loadConfig(
      devEnv({ TRUST_PROXY: "127.0.0.1, 10.0.0.0/8,::1,loopback" }),
      tempDir(),
    );
    assert.deepEqual(config.trustProxy, ["127.0.0.1", "10.0.0.0/8", "::1", "loopback"]);
  });

  it("keeps DEBUG out of the test environment even when set", () => {
    const { config } = loadConfig(devEnv({ NODE_ENV: "test", DEBUG: "1" }), tempDir());
    assert.equal(config.debug, false);
  });

  it("redacts keys when the config is printed", () => {
    const { config } = loadConfig(devEnv(), tempDir());
    const printed = JSON.stringify(config.secretKey) + JSON.stringify(config.masterKeys);
    assert.ok(!printed.includes(config.secretKey.reveal().toString("base64")));
    assert.match(printed, /redacted/);
  });
});

describe("development keys", () => {
  it("generates SECRET_KEY and MASTER_KEY once, mode 0600 in a 0700 directory, and warns", () => {
    const cwd = tempDir();
    const first = loadConfig({ NODE_ENV: "development" }, cwd);
    assert.equal(statSync(join(cwd, "data")).mode & 0o777, 0o700);
    for (const name of ["secret_key", "master_key"])
      assert.equal(statSync(join(cwd, "data", name)).mode & 0o777, 0o600);
    assert.ok(
      first.warnings.some((w) => w.variable === "SECRET_KEY" && /just created/.test(w.message)),
    );
    assert.ok(first.warnings.some((w) => w.variable === "MASTER_KEY"));
    assert.match(
      readFileSync(join(cwd, "data", "master_key"), "utf8"),
      /^dev1:[A-Za-z0-9+/]{43}=\n$/,
    );

    const second = loadConfig({ NODE_ENV: "development" }, cwd);
    assert.ok(second.config.secretKey.reveal().equals(first.config.secretKey.reveal()));
    assert.ok(
      second.config.masterKeys[0]?.key
        .reveal()
        .equals(first.config.masterKeys[0]?.key.reveal() ?? Buffer.alloc(0)),
    );
    assert.ok(!second.warnings.some((w) => /just created/.test(w.message)));
  });

  it("refuses a development key file that other users can read", () => {
    const cwd = tempDir();
    loadConfig({ NODE_ENV: "development" }, cwd);
    chmodSync(join(cwd, "data", "secret_key"), 0o644);
    refused({ NODE_ENV: "development" }, "SECRET_KEY", cwd);
  });

  it("doctor mode creates nothing", () => {
    const cwd = tempDir();
    const { config, issues } = resolveConfig(
      { NODE_ENV: "development" },
      { cwd, createMissingKeys: false },
    );
    assert.ok(config !== null);
    assert.ok(issues.every((issue) => issue.severity === "warning"));
    assert.throws(() => statSync(join(cwd, "data", "secret_key")), /ENOENT/);
  });
});

describe("METRICS_TOKEN", () => {
  const strongToken = (): string => randomBytes(32).toString("hex");

  it("is off unless set", () => {
    assert.equal(loadConfig(productionEnv(), tempDir()).config.metricsToken, null);
  });

  it("accepts a long random token in production and never prints it", () => {
    const token = strongToken();
    const { config, warnings } = loadConfig(
      productionEnv({ METRICS_TOKEN: token, SMTP_URL: "smtp://mail:25", MAIL_FROM: "a@b.example" }),
      tempDir(),
    );
    assert.deepEqual(warnings, []);
    assert.equal(config.metricsToken?.reveal().toString("utf8"), token);
    const printed = `${JSON.stringify(config)} ${inspect(config, { depth: 5 })} ${config.metricsToken}`;
    assert.ok(!printed.includes(token), "the token never prints");
    assert.match(printed, /redacted/);
  });

  it("refuses a token shorter than 32 characters in production, without echoing it", () => {
    const token = randomBytes(31).toString("hex").slice(0, 31);
    const line = refused(productionEnv({ METRICS_TOKEN: token }), "METRICS_TOKEN");
    assert.match(line, /31 characters; at least 32/);
    assert.ok(!line.includes(token));
  });

  it("refuses a placeholder token in production", () => {
    const line = refused(
      productionEnv({ METRICS_TOKEN: "changeme-changeme-changeme-changeme" }),
      "METRICS_TOKEN",
    );
    assert.match(line, /placeholder/);
  });

  it("only warns about a short token outside production", () => {
    const { config, warnings } = loadConfig(
      {
        NODE_ENV: "development",
        SECRET_KEY: strongKey(),
        MASTER_KEY: `k1:${strongKey()}`,
        METRICS_TOKEN: "short",
      },
      tempDir(),
    );
    assert.equal(config.metricsToken?.reveal().toString("utf8"), "short");
    assert.ok(
      warnings.some((w) => w.variable === "METRICS_TOKEN" && /at least 32/.test(w.message)),
    );
  });

  it("refuses everywhere a token that cannot be sent as one header word", () => {
    for (const token of [`${strongToken()} ${strongToken()}`, `${strongToken()}é`]) {
      refused(
        {
          NODE_ENV: "test",
          SECRET_KEY: strongKey(),
          MASTER_KEY: `k1:${strongKey()}`,
          METRICS_TOKEN: token,
        },
        "METRICS_TOKEN",
      );
    }
  });

  it("refuses a token that reuses SECRET_KEY or a master key", () => {
    const key = strongKey();
    assert.match(
      refused(productionEnv({ SECRET_KEY: key, METRICS_TOKEN: key }), "METRICS_TOKEN"),
      /differ/,
    );
    assert.match(
      refused(productionEnv({ MASTER_KEY: `k1:${key}`, METRICS_TOKEN: key }), "METRICS_TOKEN"),
      /differ/,
    );
  });

  it("reads METRICS_TOKEN_FILE and refuses both forms at once", () => {
    const cwd = tempDir();
    const token = strongToken();
    writeFileSync(join(cwd, "metrics-token"), `${token}\n`, { mode: 0o600 });
    const { config } = loadConfig(productionEnv({ METRICS_TOKEN_FILE: "metrics-token" }), cwd);
    assert.equal(config.metricsToken?.reveal().toString("utf8"), token);
    assert.equal(config.sources.get("METRICS_TOKEN"), "file");
    refused(
      productionEnv({ METRICS_TOKEN: token, METRICS_TOKEN_FILE: "metrics-token" }),
      "METRICS_TOKEN",
      cwd,
    );
  });
});

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseMasterKeys, parseSecretKey } from "../src/config/keys.js";
import { runCli } from "./helpers/process.js";

const tempDir = (): string => mkdtempSync(join(tmpdir(), "strongroom-cli-"));
const strongKey = (): string => randomBytes(32).toString("base64");

function assertOneCleanLine(stderr: string, variable: string): void {
  const lines = stderr.trim().split("\n");
  assert.ok(
    lines.some((line) => line.includes(variable)),
    `names ${variable}: ${stderr}`,
  );
  assert.ok(!/\n\s+at /.test(stderr), `no stack trace: ${stderr}`);
  assert.ok(lines.length <= 3, `a line per problem, not a dump: ${stderr}`);
}

describe("strongroom CLI", () => {
  it("--help works for the program and each command", async () => {
    const cwd = tempDir();
    for (const args of [
      ["--help"],
      ["serve", "--help"],
      ["migrate", "--help"],
      ["keys", "generate", "--help"],
      ["doctor", "--help"],
    ]) {
      const result = await runCli(args, {}, cwd);
      assert.equal(result.code, 0, args.join(" "));
      assert.match(result.stdout, /Usage: strongroom/);
    }
  });

  it("an unknown command is a usage error (exit 2)", async () => {
    const result = await runCli(["frobnicate"], {}, tempDir());
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command/);
  });

  it("keys generate prints a valid, strong master key entry; --secret a SECRET_KEY", async () => {
    const cwd = tempDir();
    const master = await runCli(["keys", "generate", "--id", "k2"], {}, cwd);
    assert.equal(master.code, 0);
    const parsed = parseMasterKeys(master.stdout.trim());
    assert.deepEqual(parsed.problems, []);
    assert.equal(parsed.keys[0]?.id, "k2");
    const secret = await runCli(["keys", "generate", "--secret"], {}, cwd);
    assert.deepEqual(parseSecretKey(secret.stdout.trim()).problems, []);
    const again = await runCli(["keys", "generate"], {}, cwd);
    assert.match(again.stdout, /^k\d{8}:/);
    assert.notEqual(again.stdout, master.stdout);
    const bad = await runCli(["keys", "generate", "--id", "no spaces"], {}, cwd);
    assert.equal(bad.code, 2);
  });

  it("migrate creates the SQLite database (0600) and is idempotent", async () => {
    const cwd = tempDir();
    const first = await runCli(["migrate"], { NODE_ENV: "development" }, cwd);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /applied: 0001/);
    assert.equal(statSync(join(cwd, "data", "strongroom.db")).mode & 0o777, 0o600);
    const second = await runCli(["migrate"], { NODE_ENV: "development" }, cwd);
    assert.match(second.stdout, /up to date/);
  });

  it("serve refuses a weak production configuration with one clear line per problem", async () => {
    const cwd = tempDir();
    const cases: Array<[Record<string, string>, string]> = [
      [{ SECRET_KEY: "changeme" }, "SECRET_KEY"],
      [{ DEBUG: "1" }, "DEBUG"],
      [{ PUBLIC_URL: "http://vault.example.com" }, "PUBLIC_URL"],
      [{ DATABASE_URL: "mysql://root:hunter2@db/strongroom" }, "DATABASE_URL"],
    ];
    for (const [overrides, variable] of cases) {
      const env = {
        NODE_ENV: "production",
        SECRET_KEY: strongKey(),
        MASTER_KEY: `k1:${strongKey()}`,
        PUBLIC_URL: "https://vault.example.com",
        ...overrides,
      };
      const result = await runCli(["serve"], env, cwd);
      assert.equal(result.code, 1, variable);
      assertOneCleanLine(result.stderr, variable);
      assert.ok(!result.stderr.includes("hunter2"), "never echoes a password");
    }
  });

  it("serve exits 1 with a clear line when the database is unreachable", async () => {
    const result = await runCli(
      ["serve"],
      {
        NODE_ENV: "development",
        DATABASE_URL: "postgres://strongroom:hunter2@127.0.0.1:1/strongroom",
      },
      tempDir(),
    );
    assert.equal(result.code, 1);
    assert.match(result.stderr, /unreachable/);
    assert.ok(!result.stderr.includes("hunter2"));
    assertOneCleanLine(result.stderr, "127.0.0.1:1");
  });

  it("doctor passes a development setup and creates nothing", async () => {
    const cwd = tempDir();
    const result = await runCli(["doctor"], { NODE_ENV: "development" }, cwd);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /PASS {2}database:/);
    assert.match(result.stdout, /PASS {2}headers:/);
    assert.match(result.stdout, /WARN {2}SECRET_KEY:/);
    assert.throws(() => statSync(join(cwd, "data", "secret_key")));
  });

  it("doctor exits 1 and lists each failure when production would refuse", async () => {
    const env = {
      NODE_ENV: "production",
      SECRET_KEY: "changeme",
      MASTER_KEY: `k1:${strongKey()}`,
      PUBLIC_URL: "https://vault.example.com",
      DEBUG: "1",
    };
    const result = await runCli(["doctor"], env, tempDir());
    assert.equal(result.code, 1);
    assert.match(result.stdout, /FAIL {2}SECRET_KEY:/);
    assert.match(result.stdout, /FAIL {2}DEBUG:/);
  });

  it("doctor flags ALLOW_INSECURE_HTTP and checks Redis when configured", async () => {
    const env = {
      NODE_ENV: "production",
      SECRET_KEY: strongKey(),
      MASTER_KEY: `k1:${strongKey()}`,
      PUBLIC_URL: "http://vault.internal",
      ALLOW_INSECURE_HTTP: "1",
      REDIS_URL: "redis://127.0.0.1:1",
    };
    const result = await runCli(["doctor"], env, tempDir());
    assert.match(result.stdout, /WARN {2}ALLOW_INSECURE_HTTP:/);
    assert.match(result.stdout, /FAIL {2}redis:/);
    assert.equal(result.code, 1);
  });

  it("doctor passes a reachable Redis", {
    skip: process.env.TEST_REDIS_URL ? false : "TEST_REDIS_URL not set: Redis check skipped",
  }, async () => {
    const result = await runCli(
      ["doctor"],
      { NODE_ENV: "development", REDIS_URL: process.env.TEST_REDIS_URL },
      tempDir(),
    );
    assert.match(result.stdout, /PASS {2}redis: reachable/);
    assert.equal(result.code, 0);
  });
});

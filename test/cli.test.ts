import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseMasterKeys, parseSecretKey } from "../src/config/keys.js";
import { runCli, startCli } from "./helpers/process.js";

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
    assert.match(
      result.stdout,
      /PASS {2}two-factor: optional for everyone.*TOTP codes accepted ±1 step$/m,
    );
    assert.match(result.stdout, /PASS {2}hashing priority: Argon2id threads run at nice \+10/);
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
    const bad = await runCli(["doctor"], { ...env, REQUIRE_MFA: "sometimes" }, tempDir());
    assert.match(bad.stdout, /FAIL {2}REQUIRE_MFA: must be none, admins or all/);
  });

  it("doctor says whether metrics are on and refuses a short METRICS_TOKEN in production", async () => {
    const off = await runCli(["doctor"], { NODE_ENV: "development" }, tempDir());
    assert.match(off.stdout, /PASS {2}metrics: off/);
    const token = "too-short-for-production";
    const env = {
      NODE_ENV: "production",
      SECRET_KEY: strongKey(),
      MASTER_KEY: `k1:${strongKey()}`,
      PUBLIC_URL: "https://vault.example.com",
      METRICS_TOKEN: token,
    };
    const short = await runCli(["doctor"], env, tempDir());
    assert.equal(short.code, 1);
    assert.match(short.stdout, /FAIL {2}METRICS_TOKEN: .*at least 32/);
    assert.ok(!short.stdout.includes(token) && !short.stderr.includes(token));
    const on = await runCli(
      ["doctor"],
      { NODE_ENV: "development", METRICS_TOKEN: randomBytes(32).toString("hex") },
      tempDir(),
    );
    assert.match(on.stdout, /PASS {2}metrics: \/metrics needs METRICS_TOKEN/);
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
    assert.match(result.stdout, /WARN {2}two-factor: optional for everyone/);
    const strict = await runCli(["doctor"], { ...env, REQUIRE_MFA: "admins" }, tempDir());
    assert.match(
      strict.stdout,
      /PASS {2}two-factor: required for admins; re-authentication after 10 min/,
    );
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

describe("strongroom users", () => {
  const env = { NODE_ENV: "development" };
  const password = "violet-lantern-orbit-29-quartz";

  it("creates an admin from stdin, who can then sign in; doctor stops asking for one", async () => {
    const cwd = tempDir();
    assert.equal((await runCli(["migrate"], env, cwd)).code, 0);
    const before = await runCli(["doctor"], env, cwd);
    assert.match(
      before.stdout,
      /WARN {2}administrators: none yet: create one with `strongroom users create/,
    );
    const created = await runCli(
      [
        "users",
        "create",
        "root_admin",
        "--email",
        "root@example.test",
        "--role",
        "admin",
        "--password-stdin",
      ],
      env,
      cwd,
      `${password}\n`,
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /created root_admin \(admin\)/);
    assert.ok(!created.stdout.includes(password) && !created.stderr.includes(password));
    const after = await runCli(["doctor"], env, cwd);
    assert.match(after.stdout, /PASS {2}administrators: 1 enabled/);
    const server = startCli(["serve"], { ...env, PORT: "0" }, cwd);
    try {
      const [, url] = await server.waitFor(/serving at (http:\/\/127\.0\.0\.1:\d+)/);
      const response = await fetch(`${url}/api/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: "root_admin", password }),
      });
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { user: { role: string } }).user.role, "admin");
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
    const duplicate = await runCli(
      ["users", "create", "ROOT_ADMIN", "--email", "other@example.test", "--password-stdin"],
      env,
      cwd,
      `${password}\n`,
    );
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.stderr, /already exists/);
  });

  it("refuses bad input with one clear line and creates nothing", async () => {
    const cwd = tempDir();
    const cases: Array<[string[], string, RegExp]> = [
      [
        ["users", "create", "ab", "--email", "a@example.test", "--password-stdin"],
        password,
        /username/,
      ],
      [["users", "create", "good_name", "--email", "nope", "--password-stdin"], password, /email/],
      [
        [
          "users",
          "create",
          "good_name",
          "--email",
          "g@example.test",
          "--role",
          "root",
          "--password-stdin",
        ],
        password,
        /role/,
      ],
      [
        ["users", "create", "good_name", "--email", "g@example.test", "--password-stdin"],
        "short",
        /password/,
      ],
      [
        ["users", "create", "good_name", "--email", "g@example.test", "--password-stdin"],
        "",
        /empty/,
      ],
    ];
    for (const [args, stdin, pattern] of cases) {
      const result = await runCli(args, env, cwd, `${stdin}\n`);
      assert.equal(result.code, 1, args.join(" "));
      assert.match(result.stderr, pattern);
      assert.ok(!/\n\s+at /.test(result.stderr));
      if (stdin.length > 0) assert.ok(!result.stderr.includes(stdin), "never echoes the password");
    }
    assert.equal((await runCli(["migrate"], env, cwd)).code, 0);
    const doctor = await runCli(["doctor"], env, cwd);
    assert.match(doctor.stdout, /administrators: none yet/);
  });

  it("disable and reset-mfa work, and name unknown users clearly", async () => {
    const cwd = tempDir();
    await runCli(
      ["users", "create", "to_disable", "--email", "d@example.test", "--password-stdin"],
      env,
      cwd,
      `${password}\n`,
    );
    const disabled = await runCli(["users", "disable", "to_disable"], env, cwd);
    assert.equal(disabled.code, 0, disabled.stderr);
    assert.match(disabled.stdout, /disabled to_disable/);
    const reset = await runCli(["users", "reset-mfa", "to_disable"], env, cwd);
    assert.equal(reset.code, 0);
    const unknown = await runCli(["users", "disable", "nobody_here"], env, cwd);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no such user/);
  });

  it("sign-out ends one user's sessions, or with --all everyone's, and refuses bad arguments", async () => {
    const cwd = tempDir();
    for (const name of ["sign_alice", "sign_bob"]) {
      const created = await runCli(
        ["users", "create", name, "--email", `${name}@example.test`, "--password-stdin"],
        env,
        cwd,
        `${password}\n`,
      );
      assert.equal(created.code, 0, created.stderr);
    }
    const server = startCli(["serve"], { ...env, PORT: "0" }, cwd);
    try {
      const [, url] = await server.waitFor(/serving at (http:\/\/127\.0\.0\.1:\d+)/);
      const signIn = async (username: string): Promise<string> => {
        const response = await fetch(`${url}/api/v1/auth/login`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ username, password }),
        });
        assert.equal(response.status, 200, username);
        return (response.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
      };
      const me = async (cookie: string): Promise<number> =>
        (await fetch(`${url}/api/v1/me`, { headers: { cookie } })).status;
      const alice = [await signIn("sign_alice"), await signIn("sign_alice")];
      const bob = await signIn("sign_bob");

      const one = await runCli(["users", "sign-out", "SIGN_ALICE"], env, cwd);
      assert.equal(one.code, 0, one.stderr);
      assert.match(one.stdout, /ended 2 sessions of SIGN_ALICE/);
      for (const cookie of alice) assert.equal(await me(cookie), 401, "alice is signed out");
      assert.equal(await me(bob), 200, "bob is not");

      const again = await signIn("sign_alice");
      const all = await runCli(["users", "sign-out", "--all"], env, cwd);
      assert.equal(all.code, 0, all.stderr);
      assert.match(all.stdout, /ended 2 sessions of every user/);
      assert.equal(await me(again), 401);
      assert.equal(await me(bob), 401);
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
    }
    const audit = await runCli(["audit", "verify"], env, cwd);
    assert.equal(audit.code, 0, "the chain holds the two new events intact");

    const unknown = await runCli(["users", "sign-out", "nobody_here"], env, cwd);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /sign-out: .*no such user/);
    for (const args of [
      ["users", "sign-out"],
      ["users", "sign-out", "sign_alice", "--all"],
    ]) {
      const result = await runCli(args, env, cwd);
      assert.equal(result.code, 2, args.join(" "));
      assert.match(result.stderr, /^strongroom: users: sign-out: give a username/);
      assert.ok(!/\n\s+at /.test(result.stderr), "no stack trace");
    }
  });
});

import assert from "node:assert/strict";
import { createCipheriv, createHmac, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DatabaseTarget } from "../../src/db/url.js";
import type { SignedIn } from "../helpers/accounts.js";
import { asSession } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";
import { databaseUrlOf } from "../helpers/databases.js";
import { runCli } from "../helpers/process.js";

/** A real app and the environment for CLI processes that share its database and keys. */
export interface ImportHarness {
  t: TestApp;
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Runs `strongroom ARGS…` in `cwd` with `env` plus `extraEnv`. */
  cli(
    args: string[],
    extraEnv?: NodeJS.ProcessEnv,
  ): Promise<{ code: number | string; stdout: string; stderr: string }>;
  /** Writes `content` to a file in `cwd` (mode 0600) and returns its path. */
  file(name: string, content: string | Buffer, mode?: number): string;
  close(): Promise<void>;
}

export async function createImportHarness(target?: DatabaseTarget): Promise<ImportHarness> {
  const keys = {
    SECRET_KEY: randomBytes(32).toString("base64url"),
    MASTER_KEY: `t1:${randomBytes(32).toString("base64")}`,
  };
  const t = await createTestApp({ env: keys, ...(target === undefined ? {} : { target }) });
  const cwd = mkdtempSync(join(tmpdir(), "strongroom-import-"));
  const env = { NODE_ENV: "test", ...keys, DATABASE_URL: databaseUrlOf(t.config.database) };
  return {
    t,
    cwd,
    env,
    cli: (args, extraEnv = {}) => runCli(args, { ...env, ...extraEnv }, cwd),
    file(name, content, mode = 0o600) {
      const path = join(cwd, name);
      writeFileSync(path, content);
      chmodSync(path, mode); // not through writeFileSync's mode, which the umask narrows
      return path;
    },
    close: () => t.close(),
  };
}

/** Calls the API as a signed-in user. */
export function callApi(
  t: TestApp,
  session: SignedIn,
  method: "GET" | "POST" | "PUT",
  url: string,
  payload?: Record<string, unknown>,
) {
  return t.app.inject({
    method,
    url: `/api/v1${url}`,
    headers: asSession(session),
    ...(payload === undefined ? {} : { payload }),
  });
}

/** Rows in the tables an import writes, to prove a refused import wrote nothing. */
export async function countRows(
  t: TestApp,
): Promise<{ users: number; secrets: number; secret_versions: number; audit_events: number }> {
  const count = async (table: "users" | "secrets" | "secret_versions" | "audit_events") =>
    Number(
      (
        await t.database.db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number | string>().as("n"))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    users: await count("users"),
    secrets: await count("secrets"),
    secret_versions: await count("secret_versions"),
    audit_events: await count("audit_events"),
  };
}

/**
 * A Fernet token made here (AES-128-CBC, HMAC-SHA256, version 0x80) for values Python's
 * fixtures do not cover: bytes that are not UTF-8, values over the size limit. That Strongroom
 * reads Python's own tokens is proven with test/fixtures/fernet-tokens.json.
 */
export function makeFernetToken(key: string, plaintext: Buffer): string {
  const raw = Buffer.from(key, "base64url");
  assert.equal(raw.length, 32);
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-128-cbc", raw.subarray(16), iv);
  const header = Buffer.alloc(9);
  header[0] = 0x80;
  header.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000)), 1);
  const signed = Buffer.concat([header, iv, cipher.update(plaintext), cipher.final()]);
  const mac = createHmac("sha256", raw.subarray(0, 16)).update(signed).digest();
  return Buffer.concat([signed, mac]).toString("base64url");
}

/** Asserts a failure printed only clean `strongroom: …` lines: no stack trace. */
export function assertCleanLines(stderr: string, action: string): string[] {
  const lines = stderr.trim().split("\n");
  for (const line of lines) assert.ok(line.startsWith(`strongroom: ${action}: `), line);
  assert.ok(!/\n\s+at /.test(stderr), `no stack trace: ${stderr}`);
  return lines;
}

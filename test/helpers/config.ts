/**
 * Building and refusing configurations in tests: a production environment that passes every
 * check (each test breaks one thing) and the assertion that start-up is refused with one
 * clear line.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config/config.js";

/** A random 32-byte key, base64: strong enough for every key check. */
export const strongKey = (): string => randomBytes(32).toString("base64");

/** A fresh, empty working directory. */
export const tempDir = (): string => mkdtempSync(join(tmpdir(), "strongroom-config-"));

/** A production environment that passes every check, with `overrides` applied. */
export function productionEnv(
  overrides: Record<string, string | undefined> = {},
): NodeJS.ProcessEnv {
  return {
    NODE_ENV: "production",
    SECRET_KEY: strongKey(),
    MASTER_KEY: `k1:${strongKey()}`,
    PUBLIC_URL: "https://vault.example.com",
    DATABASE_URL: "sqlite://./data/strongroom.db",
    ...overrides,
  };
}

/**
 * Asserts start-up is refused with a ConfigError, no stack trace, and exactly one line
 * naming `variable`; returns that line and the whole message.
 */
export function refusal(
  env: NodeJS.ProcessEnv,
  variable: string,
  cwd = tempDir(),
): { line: string; message: string } {
  try {
    loadConfig(env, cwd);
  } catch (error) {
    assert.ok(error instanceof ConfigError, "a ConfigError, not some other failure");
    const lines = error.message.split("\n").filter((l) => l.startsWith(`${variable}:`));
    assert.equal(lines.length, 1, `one line for ${variable}, got: ${error.message}`);
    assert.ok(!error.message.includes("    at "), "no stack trace");
    return { line: lines[0] ?? "", message: error.message };
  }
  assert.fail(`expected start-up to be refused for ${variable}`);
}

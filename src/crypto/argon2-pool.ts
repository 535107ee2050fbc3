/**
 * Argon2id runs on a pool of worker threads at a lower CPU priority than the event loop.
 *
 * On the libuv thread pool (what @node-rs/argon2's async functions use) a flood of sign-ins
 * keeps four hashing threads competing with the event loop for the cores on equal terms, and
 * every other request — a reveal, a health probe — waits its turn behind them. Here the
 * hashing threads run with a nice increment of 10 (piscina's `niceIncrement`, per thread on
 * Linux), so the scheduler serves the event loop first and gives the hashes every cycle it
 * leaves idle: logins still use the whole machine, and other requests barely notice them.
 * One thread per core; more would only add memory (each hash holds `m` KiB).
 *
 * The pool starts on first use, so a process that never hashes (most CLI commands, a server
 * nobody signs in to) holds no threads; idle threads beyond one are closed after a while.
 */
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { Piscina } from "piscina";

/** Nice increment of the hashing threads: below the event loop, above nothing else. */
export const ARGON2_NICE_INCREMENT = 10;

let pool: Piscina | null = null;

function argon2Pool(): Piscina {
  pool ??= new Piscina({
    filename: new URL("./argon2-worker.js", import.meta.url).href,
    minThreads: 1,
    maxThreads: availableParallelism(),
    idleTimeout: 30_000,
    niceIncrement: ARGON2_NICE_INCREMENT,
  });
  return pool;
}

/** Options of @node-rs/argon2's `hash` (the subset Strongroom sets). */
export interface Argon2HashOptions {
  algorithm: number;
  version: number;
  memoryCost: number;
  timeCost: number;
  parallelism: number;
  outputLen: number;
  salt: Uint8Array;
}

/** @node-rs/argon2's `hash`, on the pool. */
export function argon2Hash(password: Uint8Array, options: Argon2HashOptions): Promise<string> {
  return argon2Pool().run({ op: "hash", password, options }) as Promise<string>;
}

/** @node-rs/argon2's `verify`, on the pool; rejects on a hash the library cannot decode. */
export function argon2Verify(stored: string, password: Uint8Array): Promise<boolean> {
  return argon2Pool().run({ op: "verify", stored, password }) as Promise<boolean>;
}

/** Argon2 tasks this process has completed on the pool (for tests: work really done). */
export function argon2TasksCompleted(): number {
  return pool?.completed ?? 0;
}

/** Loads `@napi-rs/nice` as piscina's worker does: from where piscina itself is installed. */
function loadNiceFromPiscina(): unknown {
  const fromPiscina = createRequire(createRequire(import.meta.url).resolve("piscina"));
  return fromPiscina("@napi-rs/nice");
}

/**
 * Whether the hashing threads really run below the event loop. piscina lowers a thread's
 * priority through its optional native dependency `@napi-rs/nice` and, when that is missing
 * (a platform without a prebuilt binary, an install with `--omit=optional`), silently runs
 * them at normal priority — a sign-in flood then slows every other request. `doctor` reports
 * this; `load` is for tests.
 */
export function hashingPriorityLowered(load: () => unknown = loadNiceFromPiscina): boolean {
  try {
    const module = load() as { nice?: unknown } | null;
    return typeof module?.nice === "function";
  } catch {
    return false;
  }
}

/** Closes the pool's threads (a later hash starts a new pool). */
export async function closeArgon2Pool(): Promise<void> {
  const closing = pool;
  pool = null;
  await closing?.close();
}

/**
 * `npm run bench`: every scenario of the benchmark suite, each measured in the same run as
 * the baseline it is reported against (docs/performance.md explains them and quotes the
 * latest table). Nothing here asserts a number: rows say whether a target was met, and the
 * exit code does not depend on it.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../src/config/config.js";
import { parseMasterKeys } from "../src/config/keys.js";
import { rotateKeys } from "../src/keys/rotation.service.js";
import { closedLoop, latency, latencyAtRate, type Target, throughput } from "./load.js";
import { argon2Rate, describeMachine } from "./machine.js";
import { type Running, startBareFastify, startStrongroom, withPeakMemory } from "./processes.js";
import {
  BENCH_PASSWORD,
  bulkSecretName,
  openBenchDatabase,
  seedAccount,
  seedSecrets,
  seedUsers,
  vaultIdOf,
} from "./seed.js";

/** How much data and time each scenario gets. */
export interface BenchSizes {
  /** Secrets in the vault whose first page is listed. */
  listVault: number;
  /** Stored secrets at the small end of the scale scenario. */
  scaleSmall: number;
  /** Data keys rewrapped in the rotation scenario. */
  rotation: number;
  /** Stored secrets at the large end of the scale scenario. */
  scaleLarge: number;
  /** Seconds each load scenario runs. */
  seconds: number;
  /** Concurrent connections of the throughput client. */
  connections: number;
  /** Accounts signing in at once in the login flood, one per connection. */
  floodUsers: number;
  /** Reveals per second of the latency probe beside the login flood. */
  probeRate: number;
}

/** What the issue asks for. */
export const FULL: BenchSizes = {
  listVault: 10_000,
  scaleSmall: 1_000,
  rotation: 100_000,
  scaleLarge: 1_000_000,
  seconds: 10,
  connections: 10,
  floodUsers: 16,
  probeRate: 100,
};

/** Every scenario for a second at toy sizes: what the test suite runs so the bench cannot rot. */
export const TINY: BenchSizes = {
  listVault: 300,
  scaleSmall: 100,
  rotation: 500,
  scaleLarge: 1_500,
  seconds: 1,
  connections: 4,
  floodUsers: 4,
  probeRate: 50,
};

/** One line of the report. */
export interface BenchRow {
  /** Stable key, e.g. `reveal.throughput`. */
  id: string;
  scenario: string;
  value: number;
  unit: string;
  /** What `value` is compared with, measured in the same run. */
  baseline?: { label: string; value: number; unit: string };
  /** `value / baseline.value`. */
  ratio?: number;
  /** The goal from docs/performance.md and whether this run met it. */
  target?: { text: string; met: boolean };
}

export interface BenchReport {
  startedAt: string;
  machine: string;
  sizes: BenchSizes;
  rows: BenchRow[];
}

export interface BenchOptions {
  sizes: BenchSizes;
  /** Progress lines (stderr in the CLI). */
  log: (line: string) => void;
  /** Rewrites the current progress line (a progress bar); defaults to `log`. */
  progress?: (line: string) => void;
}

const PUBLIC_URL = "https://127.0.0.1";

/** Runs every scenario and returns the report (rows in a fixed order). */
export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const { sizes, log } = options;
  const startedAt = new Date().toISOString();
  const rows: BenchRow[] = [];
  const dir = mkdtempSync(join(tmpdir(), "strongroom-bench-"));
  const k1 = `k1:${randomBytes(32).toString("base64")}`;
  const k2 = `k2:${randomBytes(32).toString("base64")}`;
  const env = (file: string, masterKey: string): NodeJS.ProcessEnv => ({
    NODE_ENV: "production",
    SECRET_KEY: randomBytes(32).toString("base64url"),
    MASTER_KEY: masterKey,
    DATABASE_URL: `sqlite://${join(dir, file)}`,
    PUBLIC_URL,
    // The load comes from one token: at its maximum the per-caller budget still runs on every
    // request (its cost is in the numbers) but does not refuse the load it is measuring.
    API_RATE_LIMIT: "1000000",
  });
  const load = { connections: sizes.connections, seconds: sizes.seconds };
  try {
    // --- the limits of the machine ---------------------------------------------------------
    log("bare Fastify (the limit)…");
    const bare = await startBareFastify();
    const limit = await throughput(bare.baseUrl, { path: "/" }, load).finally(() => bare.stop());
    rows.push({ id: "limit", scenario: "bare Fastify {ok:true}", value: limit.rps, unit: "req/s" });
    const mainEnv = env("main.sqlite", k1);
    const { config } = loadConfig(mainEnv, dir);
    log("raw Argon2id rate…");
    const hashRate = await argon2Rate(config.argon2, sizes.seconds);

    // --- the main database: seeded, then served -------------------------------------------
    log(`seeding: accounts, a vault of ${sizes.listVault} secrets…`);
    const floodUsers = Array.from({ length: sizes.floodUsers }, (_, i) => `flood${i}`);
    const main = await openBenchDatabase(config.database);
    let token: string;
    try {
      ({ token } = await seedAccount(main.db, config, "bench", ["bench", "list"]));
      await seedUsers(main.db, config, floodUsers);
      await seedSecrets(
        main.db,
        config.masterKeys,
        await vaultIdOf(main.db, "list"),
        { from: 0, to: sizes.listVault },
        (done) => options.progress?.(bar("list vault", done, sizes.listVault)),
      );
    } finally {
      await main.close();
    }
    const bearer = { authorization: `Bearer ${token}` };
    const server = await startStrongroom(mainEnv, dir);
    try {
      rows.push({
        id: "startup",
        scenario: "start-up to /readyz 200",
        value: server.startupSeconds,
        unit: "s",
        target: { text: "≤ 1.5 s", met: server.startupSeconds <= 1.5 },
      });
      // Let start-up garbage settle before reading idle memory.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const idle = server.rssMiB();
      rows.push({
        id: "memory.idle",
        scenario: "resident memory, idle",
        value: idle,
        unit: "MiB",
        target: { text: "≤ 120 MiB", met: idle <= 120 },
      });

      const vs = (id: string, scenario: string, rps: number): BenchRow => ({
        id,
        scenario,
        value: rps,
        unit: "req/s",
        baseline: { label: "bare Fastify", value: limit.rps, unit: "req/s" },
        ratio: rps / limit.rps,
      });
      log("GET /healthz…");
      const health = await throughput(server.baseUrl, { path: "/healthz" }, load);
      rows.push(vs("healthz", "GET /healthz", health.rps));

      const reveal: Target = { path: "/api/v1/vaults/bench/secrets/KEY", headers: bearer };
      await put(server, "/api/v1/vaults/bench/secrets/KEY", bearer, "s3cr3t-value-for-the-bench");
      log("reveal with a bearer token…");
      const revealRun = await withPeakMemory(server, () =>
        throughput(server.baseUrl, reveal, load),
      );
      assertClean("reveal", revealRun.result);
      rows.push({
        ...vs("reveal.throughput", "reveal (bearer, policy, decrypt, audit)", revealRun.result.rps),
        target: { text: "≥ 25 % of the limit", met: revealRun.result.rps / limit.rps >= 0.25 },
      });

      log("write a new version…");
      const write = await throughput(
        server.baseUrl,
        {
          method: "PUT",
          path: "/api/v1/vaults/bench/secrets/WRITTEN",
          headers: bearer,
          body: JSON.stringify({ value: "a-new-value-each-time-is-not-needed" }),
        },
        load,
      );
      assertClean("write", write);
      rows.push(vs("write", "write a new secret version", write.rps));

      log(`list the first page of ${sizes.listVault} secrets…`);
      const list = await throughput(
        server.baseUrl,
        { path: "/api/v1/vaults/list/secrets", headers: bearer },
        load,
      );
      assertClean("list", list);
      rows.push(vs("list", `list a vault of ${sizes.listVault} secrets, first page`, list.rps));

      // The reveal probe runs at a steady rate, the same with and without the flood: a closed
      // loop would take a core of its own (client and server), leaving the logins less than
      // the machine has, and would ask less of a server slowed by the flood.
      const steady = { rate: sizes.probeRate, seconds: sizes.seconds };
      log(`reveal latency at ${sizes.probeRate}/s without a login flood…`);
      const quiet = await latencyAtRate(server.baseUrl, reveal, steady);
      log("login flood with reveal latency alongside…");
      const login: Target = {
        method: "POST",
        path: "/api/v1/auth/login",
        headers: { origin: PUBLIC_URL },
      };
      const flood = await withPeakMemory(server, () =>
        Promise.all([
          closedLoop(
            server.baseUrl,
            // One account per connection: concurrent sign-ins to one account from one address
            // beyond LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS are refused while in flight.
            (i) => ({
              ...login,
              body: JSON.stringify({
                username: floodUsers[i % floodUsers.length],
                password: BENCH_PASSWORD,
              }),
            }),
            { connections: floodUsers.length, seconds: sizes.seconds },
          ),
          latencyAtRate(server.baseUrl, reveal, steady),
        ]),
      );
      const [loginRun, loud] = flood.result;
      assertClean("login", { ok: loginRun.samples.length, failures: loginRun.failures.length });
      const logins = { rps: loginRun.samples.length / loginRun.seconds };
      rows.push({
        id: "login.throughput",
        scenario: "login flood",
        value: logins.rps,
        unit: "logins/s",
        baseline: { label: "raw Argon2id", value: hashRate, unit: "hashes/s" },
        ratio: logins.rps / hashRate,
        target: { text: "≥ 90 % of raw Argon2id", met: logins.rps / hashRate >= 0.9 },
      });
      rows.push({
        id: "login.reveal-p50",
        scenario: "reveal p50 during the login flood",
        value: loud.p50,
        unit: "ms",
        baseline: { label: "p50 without", value: quiet.p50, unit: "ms" },
        ratio: loud.p50 / quiet.p50,
      });
      rows.push({
        id: "login.reveal-p99",
        scenario: "reveal p99 during the login flood",
        value: loud.p99,
        unit: "ms",
        baseline: { label: "p99 without", value: quiet.p99, unit: "ms" },
        ratio: loud.p99 / quiet.p99,
        target: { text: "≤ 3 × p99 without", met: loud.p99 <= 3 * quiet.p99 },
      });
      rows.push({
        id: "memory.reveal",
        scenario: "resident memory, peak during reveals",
        value: revealRun.peakMiB,
        unit: "MiB",
      });
      rows.push({
        id: "memory.login",
        scenario: "resident memory, peak during the login flood",
        value: flood.peakMiB,
        unit: "MiB",
      });
    } finally {
      await server.stop();
    }

    rows.push(...(await scaleAndRotation(options, env, [k1, k2], dir)));
    return { startedAt, machine: describeMachine(), sizes, rows };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Reveal and list latency at `scaleSmall` and `scaleLarge` stored secrets (one database,
 * grown in between), and between the two, the time to rewrap `rotation` data keys.
 */
async function scaleAndRotation(
  options: BenchOptions,
  env: (file: string, masterKey: string) => NodeJS.ProcessEnv,
  [k1, k2]: [string, string],
  dir: string,
): Promise<BenchRow[]> {
  const { sizes, log } = options;
  const rows: BenchRow[] = [];
  const before = env("scale.sqlite", k1);
  const { config } = loadConfig(before, dir);
  const handle = await openBenchDatabase(config.database);
  let token: string;
  let vaultId: string;
  const grow = async (keys: string, from: number, to: number) => {
    log(`seeding the scale vault to ${to} secrets…`);
    const keyring = parseMasterKeys(keys).keys;
    await seedSecrets(handle.db, keyring, vaultId, { from, to }, (done) =>
      options.progress?.(bar("scale vault", from + done, to)),
    );
  };
  const measure = async (masterKey: string, count: number) => {
    const server = await startStrongroom({ ...before, MASTER_KEY: masterKey }, dir);
    const bearer = { authorization: `Bearer ${token}` };
    try {
      log(`reveal and list latency at ${count} secrets…`);
      const probe = { connections: 1, seconds: sizes.seconds };
      const name = bulkSecretName(Math.floor(count / 2));
      return {
        reveal: await latency(
          server.baseUrl,
          { path: `/api/v1/vaults/scale/secrets/${name}`, headers: bearer },
          probe,
        ),
        list: await latency(
          server.baseUrl,
          { path: "/api/v1/vaults/scale/secrets", headers: bearer },
          probe,
        ),
      };
    } finally {
      await server.stop();
    }
  };
  try {
    ({ token } = await seedAccount(handle.db, config, "bench", ["scale"]));
    vaultId = await vaultIdOf(handle.db, "scale");
    await grow(k1, 0, sizes.scaleSmall);
    const small = await measure(k1, sizes.scaleSmall);

    await grow(k1, sizes.scaleSmall, sizes.rotation);
    log(`rotating the master key over ${sizes.rotation} data keys…`);
    const started = performance.now();
    const rotation = await rotateKeys(handle.db, parseMasterKeys(`${k2},${k1}`).keys, {
      reencrypt: false,
    });
    const seconds = (performance.now() - started) / 1000;
    if (rotation.remaining !== 0 || rotation.failed.length > 0)
      throw new Error(`rotation left ${rotation.remaining} rows: ${JSON.stringify(rotation)}`);
    const perMillion = (seconds * 1_000_000) / rotation.rewrapped;
    rows.push({
      id: "rotation",
      scenario: `rewrap ${rotation.rewrapped} data keys`,
      value: seconds,
      unit: "s",
    });
    rows.push({
      id: "rotation.1m",
      scenario: "rewrap 1 000 000 data keys (extrapolated)",
      value: perMillion,
      unit: "s",
      target: { text: "< 120 s", met: perMillion < 120 },
    });

    await grow(`${k2},${k1}`, sizes.rotation, sizes.scaleLarge);
    const large = await measure(`${k2},${k1}`, sizes.scaleLarge);
    for (const [kind, at] of [
      ["reveal", (m: typeof small) => m.reveal],
      ["list", (m: typeof small) => m.list],
    ] as const) {
      const ratio = at(large).p50 / at(small).p50;
      rows.push({
        id: `scale.${kind}`,
        scenario: `${kind} p50 at ${sizes.scaleLarge} secrets (p99 ${at(large).p99.toFixed(2)} ms)`,
        value: at(large).p50,
        unit: "ms",
        baseline: { label: `p50 at ${sizes.scaleSmall}`, value: at(small).p50, unit: "ms" },
        ratio,
        target: { text: "≤ 1.5 ×", met: ratio <= 1.5 },
      });
    }
    return rows;
  } finally {
    await handle.close();
  }
}

/** A scenario whose requests failed measures nothing: stop the run with what went wrong. */
function assertClean(name: string, run: { ok: number; failures: number }): void {
  if (run.ok === 0 || run.failures > 0)
    throw new Error(`${name}: ${run.ok} succeeded, ${run.failures} failed`);
}

async function put(
  server: Running,
  path: string,
  headers: Record<string, string>,
  value: string,
): Promise<void> {
  const response = await fetch(`${server.baseUrl}${path}`, {
    method: "PUT",
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify({ value }),
  });
  if (!response.ok) throw new Error(`PUT ${path}: ${response.status} ${await response.text()}`);
}

/** `label [#####-----] done/total`. */
export function bar(label: string, done: number, total: number): string {
  const width = 30;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  return `${label} [${"#".repeat(filled)}${"-".repeat(width - filled)}] ${done}/${total}`;
}

/**
 * The benchmark suite at toy sizes, every scenario for about a second, so `npm run bench`
 * cannot rot unnoticed. Numbers are never asserted: only that each scenario ran, measured
 * something and was reported.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type BenchReport, bar, runBench, TINY } from "../bench/bench.js";
import { summarize } from "../bench/load.js";
import { formatTable, writeReport } from "../bench/report.js";
import { bulkSecretName, openBenchDatabase, seedSecrets } from "../bench/seed.js";
import { parseMasterKeys } from "../src/config/keys.js";
import { openSecretVersion } from "../src/vaults/secret-crypto.js";
import { testEngine } from "./helpers/databases.js";

const EXPECTED_ROWS = [
  "limit",
  "startup",
  "memory.idle",
  "healthz",
  "reveal.throughput",
  "write",
  "list",
  "login.throughput",
  "login.reveal-p50",
  "login.reveal-p99",
  "memory.reveal",
  "memory.login",
  "rotation",
  "rotation.1m",
  "scale.reveal",
  "scale.list",
];

// The bench always runs on SQLite files of its own; the PostgreSQL pass has nothing to add.
const onPostgresPass =
  testEngine() === "postgres" ? "the bench runs on SQLite: see the SQLite pass" : false;

test("every scenario runs at a tiny size and is reported in the table and the JSON", {
  skip: onPostgresPass,
}, async () => {
  const lines: string[] = [];
  const report = await runBench({ sizes: TINY, log: (line) => lines.push(line) });
  assert.deepEqual(
    report.rows.map((row) => row.id),
    EXPECTED_ROWS,
  );
  for (const row of report.rows) {
    assert.ok(Number.isFinite(row.value) && row.value > 0, `${row.id}: ${row.value}`);
    if (row.baseline !== undefined) {
      assert.ok(row.baseline.value > 0, `${row.id} baseline`);
      assert.equal(row.ratio, row.value / row.baseline.value, `${row.id} ratio`);
    }
  }
  // Ratios are what the report is about: the scenarios the issue compares all have one.
  for (const id of ["reveal.throughput", "login.throughput", "login.reveal-p99", "scale.reveal"])
    assert.ok(report.rows.find((row) => row.id === id)?.ratio !== undefined, id);
  assert.ok(lines.some((line) => line.includes("rotating")));

  const table = formatTable(report);
  for (const row of report.rows) assert.ok(table.includes(row.scenario), row.scenario);
  const dir = mkdtempSync(join(tmpdir(), "strongroom-bench-results-"));
  try {
    const path = writeReport(report, dir);
    const written = JSON.parse(readFileSync(path, "utf8")) as BenchReport;
    assert.deepEqual(written, JSON.parse(readFileSync(join(dir, "latest.json"), "utf8")));
    assert.deepEqual(
      written.rows.map((row) => row.id),
      EXPECTED_ROWS,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bulk seeding seals each secret for its own vault, secret and version", async () => {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-bench-seed-"));
  const handle = await openBenchDatabase({ kind: "sqlite", path: join(dir, "seed.sqlite") });
  try {
    const keyring = parseMasterKeys(`k1:${Buffer.alloc(32, 7).toString("base64")}`).keys;
    const now = new Date().toISOString();
    await handle.db
      .insertInto("vaults")
      .values({ id: "v1", slug: "seeded", created_at: now, updated_at: now })
      .execute();
    const seen: number[] = [];
    await seedSecrets(handle.db, keyring, "v1", { from: 0, to: 2_500 }, (done) => seen.push(done));
    assert.deepEqual(seen, [1000, 2000, 2500]);
    const rows = await handle.db
      .selectFrom("secrets")
      .innerJoin("secret_versions", "secret_versions.secret_id", "secrets.id")
      .selectAll("secret_versions")
      .select(["secrets.name", "secrets.vault_id"])
      .where("secrets.name", "in", [bulkSecretName(0), bulkSecretName(2_499)])
      .execute();
    assert.equal(rows.length, 2);
    for (const row of rows) {
      const { value } = openSecretVersion(
        keyring,
        { vaultId: row.vault_id, secretId: row.secret_id, version: row.version },
        row,
      );
      assert.match(value.toString(), new RegExp(`^value-of-${row.name}-`));
      // Bound to its own row: the same envelope under another secret's identity fails.
      assert.throws(() =>
        openSecretVersion(keyring, { vaultId: "v1", secretId: "other", version: 1 }, row),
      );
    }
  } finally {
    await handle.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("summaries take nearest-rank percentiles; the progress bar fills with the count", () => {
  const samples = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.deepEqual(summarize(samples), { p50: 50, p99: 99, mean: 50.5, count: 100 });
  assert.deepEqual(summarize([3]), { p50: 3, p99: 3, mean: 3, count: 1 });
  assert.throws(() => summarize([]), /no samples/);
  assert.equal(bar("x", 0, 10), `x [${"-".repeat(30)}] 0/10`);
  assert.equal(bar("x", 5, 10), `x [${"#".repeat(15)}${"-".repeat(15)}] 5/10`);
});

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openDatabase } from "../../src/db/database.js";
import type { DatabaseTarget } from "../../src/db/url.js";
import { openSecretVersion } from "../../src/vaults/secret-crypto.js";
import type { TestDatabase } from "../helpers/databases.js";
import { createTestDatabase, databaseUrlOf, testDatabaseTargets } from "../helpers/databases.js";
import { runCli } from "../helpers/process.js";
import type { SeededVersion } from "../keys/fixtures.js";
import { newMasterKey, seedSecretVersions } from "../keys/fixtures.js";

const key = newMasterKey("kb1");
const PASSPHRASE = "a long enough backup passphrase";

/** One line, no stack trace. */
function assertOneLine(stderr: string): void {
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
  assert.ok(!/\n\s+at /.test(stderr), stderr);
}

/** Reads every seeded version back from `target` and decrypts it. */
async function assertSeeded(target: DatabaseTarget, seeded: SeededVersion[]): Promise<void> {
  const database = await openDatabase(target);
  try {
    const rows = await database.db.selectFrom("secret_versions").selectAll().execute();
    assert.equal(rows.length, seeded.length);
    for (const expected of seeded) {
      const row = rows.find((candidate) => candidate.id === expected.id);
      assert.ok(row, expected.id);
      const opened = openSecretVersion([key], expected.identity, row);
      assert.deepEqual(opened.value, expected.value);
    }
  } finally {
    await database.close();
  }
}

describe("strongroom backup / restore (CLI)", () => {
  const cwd = mkdtempSync(join(tmpdir(), "strongroom-backup-cli-"));
  const env = (databaseUrl: string): NodeJS.ProcessEnv => ({
    NODE_ENV: "test",
    SECRET_KEY: randomBytes(32).toString("base64url"),
    MASTER_KEY: key.entry,
    DATABASE_URL: databaseUrl,
  });
  // Databases on the test engine (PostgreSQL under TEST_ENGINE=postgres).
  const databases: TestDatabase[] = [];
  const fresh = async (): Promise<{ target: DatabaseTarget; url: string }> => {
    const created = await createTestDatabase();
    databases.push(created);
    return { target: created.target, url: databaseUrlOf(created.target) };
  };
  let source: string;
  let seeded: SeededVersion[];

  after(async () => {
    for (const database of databases) await database.cleanup();
  });

  before(async () => {
    const made = await fresh();
    source = made.url;
    const database = await openDatabase(made.target);
    try {
      const { migrateToLatest } = await import("../../src/db/migrate.js");
      await migrateToLatest(database.db);
      seeded = await seedSecretVersions(database.db, [key], {
        vaults: 2,
        secrets: 30,
        versions: 2,
      });
    } finally {
      await database.close();
    }
  });

  it("backs up with a progress line and a summary, into a 0600 file, and never overwrites", async () => {
    const result = await runCli(["backup", "one.backup"], env(source), cwd);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^backed up \d+ rows to one\.backup \(.*60 secrets.*\)$/m);
    assert.match(result.stdout, /encrypted with master key "kb1"/);
    assert.match(result.stderr, /^backed up \d+\/\d+ {2}100%/m);
    assert.equal(statSync(join(cwd, "one.backup")).mode & 0o777, 0o600);

    const again = await runCli(["backup", "one.backup"], env(source), cwd);
    assert.equal(again.code, 1);
    assertOneLine(again.stderr);
    assert.match(again.stderr, /^strongroom: backup: one\.backup already exists \(use --force/);
    const forced = await runCli(["backup", "one.backup", "--force"], env(source), cwd);
    assert.equal(forced.code, 0, forced.stderr);
  });

  it("restores into an empty database, and refuses a non-empty one without --force", async () => {
    const restoredDb = await fresh();
    const target = restoredDb.url;
    const restored = await runCli(["restore", "one.backup"], env(target), cwd);
    assert.equal(restored.code, 0, restored.stderr);
    assert.match(restored.stdout, /^restored \d+ rows from the backup of \d{4}-/m);
    assert.doesNotMatch(restored.stdout, /replaced an audit log/, "an empty database had none");
    assert.match(restored.stdout, /^audit chain intact: \d+ events$/m);
    assert.match(restored.stderr, /^checked \d+\/\d+ {2}100%/m);
    await assertSeeded(restoredDb.target, seeded);

    const refused = await runCli(["restore", "one.backup"], env(target), cwd);
    assert.equal(refused.code, 1);
    assertOneLine(refused.stderr.replace(/^checked .*\n/m, ""));
    assert.match(refused.stderr, /not empty \(.*\).*use --force; nothing was changed$/m);
    const forced = await runCli(["restore", "one.backup", "--force"], env(target), cwd);
    assert.equal(forced.code, 0, forced.stderr);
    // What the forced restore replaced is said, and kept in its backup.restore event.
    assert.match(
      forced.stdout,
      /^replaced an audit log of \d+ event\(s\) whose newest hash was [0-9a-f]{64}: /m,
    );
  });

  it("with --passphrase-stdin: refuses a short passphrase, restores only with the right one", async () => {
    const short = await runCli(
      ["backup", "pass.backup", "--passphrase-stdin"],
      env(source),
      cwd,
      "too short\n",
    );
    assert.equal(short.code, 2);
    assert.match(short.stderr, /at least 16 characters/);
    const made = await runCli(
      ["backup", "pass.backup", "--passphrase-stdin"],
      env(source),
      cwd,
      `${PASSPHRASE}\n`,
    );
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stdout, /encrypted with the passphrase/);

    const passDb = await fresh();
    const target = passDb.url;
    const withoutIt = await runCli(["restore", "pass.backup"], env(target), cwd);
    assert.equal(withoutIt.code, 1);
    assert.match(
      withoutIt.stderr,
      /encrypted with a passphrase: restore it with --passphrase-stdin/,
    );
    const wrong = await runCli(
      ["restore", "pass.backup", "--passphrase-stdin"],
      env(target),
      cwd,
      `${PASSPHRASE}?\n`,
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /integrity check.*nothing was changed$/m);
    const right = await runCli(
      ["restore", "pass.backup", "--passphrase-stdin"],
      env(target),
      cwd,
      `${PASSPHRASE}\n`,
    );
    assert.equal(right.code, 0, right.stderr);
    await assertSeeded(passDb.target, seeded);
  });

  it("refuses a tampered or truncated file in one line, and a missing one", async () => {
    const good = readFileSync(join(cwd, "one.backup"));
    const tampered = Buffer.from(good);
    tampered[good.length - 30] = (tampered[good.length - 30] ?? 0) ^ 0x80;
    writeFileSync(join(cwd, "tampered.backup"), tampered);
    writeFileSync(join(cwd, "truncated.backup"), good.subarray(0, good.length - 1000));
    const never = (await fresh()).url;
    for (const file of ["tampered.backup", "truncated.backup"]) {
      const result = await runCli(["restore", file], env(never), cwd);
      assert.equal(result.code, 1, file);
      assert.match(result.stderr, /integrity check.*nothing was changed$/m, file);
    }
    const missing = await runCli(["restore", "nope.backup"], env(never), cwd);
    assert.equal(missing.code, 1);
    assertOneLine(missing.stderr);
    assert.match(missing.stderr, /ENOENT|no such file/);
  });

  it("has --help for both commands", async () => {
    for (const command of ["backup", "restore"]) {
      const result = await runCli([command, "--help"], env(source), cwd);
      assert.equal(result.code, 0);
      assert.match(result.stdout, /--passphrase-stdin/);
      assert.match(result.stdout, /--force/);
    }
  });
});

// A SQLite backup restores into PostgreSQL: the way from one machine to several.
for (const kind of testDatabaseTargets().filter((candidate) => candidate.name === "postgres")) {
  describe("strongroom restore of a SQLite backup into PostgreSQL", () => {
    let database: TestDatabase;
    before(async () => {
      database = await kind.create();
    });
    after(async () => {
      await database.cleanup();
    });

    it("moves every version across engines intact", async () => {
      const cwd = mkdtempSync(join(tmpdir(), "strongroom-backup-move-"));
      const sqlite = await openDatabase({ kind: "sqlite", path: join(cwd, "data", "s.db") });
      let seeded: SeededVersion[];
      try {
        const { migrateToLatest } = await import("../../src/db/migrate.js");
        await migrateToLatest(sqlite.db);
        seeded = await seedSecretVersions(sqlite.db, [key], { vaults: 1, secrets: 5, versions: 3 });
      } finally {
        await sqlite.close();
      }
      const base = { NODE_ENV: "test", SECRET_KEY: randomBytes(32).toString("base64url") };
      const made = await runCli(
        ["backup", "move.backup"],
        { ...base, MASTER_KEY: key.entry, DATABASE_URL: "sqlite://./data/s.db" },
        cwd,
      );
      assert.equal(made.code, 0, made.stderr);
      const target = database.target;
      assert.equal(target.kind, "postgres");
      if (target.kind !== "postgres") return;
      const url = new URL(target.url);
      url.searchParams.set("schema", target.schema ?? "public");
      const restored = await runCli(
        ["restore", "move.backup"],
        { ...base, MASTER_KEY: key.entry, DATABASE_URL: url.toString() },
        cwd,
      );
      assert.equal(restored.code, 0, restored.stderr);
      await assertSeeded(target, seeded);
    });
  });
}

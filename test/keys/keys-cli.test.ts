import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { openTotpSecret } from "../../src/accounts/totp-secrets.js";
import type { MasterKey } from "../../src/config/keys.js";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import type { DatabaseTarget } from "../../src/db/url.js";
import { openSecretVersion } from "../../src/vaults/secret-crypto.js";
import type { TestDatabase } from "../helpers/databases.js";
import { createTestDatabase, databaseUrlOf } from "../helpers/databases.js";
import { runCli, startCli } from "../helpers/process.js";
import type { SeededVersion } from "./fixtures.js";
import { newMasterKey, readVersions, seedSecretVersions, seedTotpUser } from "./fixtures.js";

/** The database of each directory made by `seededDirectory`, on the test engine. */
const targets = new Map<string, DatabaseTarget>();
const createdDatabases: TestDatabase[] = [];
after(async () => {
  for (const database of createdDatabases) await database.cleanup();
});

/** A temp directory with a database seeded under `key`, and the env to reach it. */
async function seededDirectory(
  key: MasterKey,
  shape = { vaults: 1, secrets: 3, versions: 2 },
): Promise<{
  cwd: string;
  env: (masterKey: string) => NodeJS.ProcessEnv;
  seeded: SeededVersion[];
  totp: { userId: string; secret: string };
}> {
  const cwd = mkdtempSync(join(tmpdir(), "strongroom-keys-"));
  const created = await createTestDatabase();
  createdDatabases.push(created);
  targets.set(cwd, created.target);
  const database = await openDatabase(created.target);
  try {
    await migrateToLatest(database.db);
    const seeded = await seedSecretVersions(database.db, [key], shape);
    const totp = await seedTotpUser(database.db, [key], "cliuser");
    const secretKey = randomBytes(32).toString("base64url");
    const env = (masterKey: string): NodeJS.ProcessEnv => ({
      NODE_ENV: "test",
      SECRET_KEY: secretKey,
      MASTER_KEY: masterKey,
      DATABASE_URL: databaseUrlOf(created.target),
    });
    return { cwd, env, seeded, totp };
  } finally {
    await database.close();
  }
}

async function withDatabase<T>(
  cwd: string,
  work: (db: Awaited<ReturnType<typeof openDatabase>>["db"]) => Promise<T>,
): Promise<T> {
  const target = targets.get(cwd);
  assert.ok(target, `no database for ${cwd}`);
  const database = await openDatabase(target);
  try {
    return await work(database.db);
  } finally {
    await database.close();
  }
}

function assertOneLine(stderr: string): void {
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
  assert.ok(!/\n\s+at /.test(stderr), `no stack trace: ${stderr}`);
}

describe("strongroom keys rotate", () => {
  it("rotates to the new key, after which the old one can be dropped", async () => {
    const oldKey = newMasterKey("old");
    const newKey = newMasterKey("new");
    const { cwd, env, seeded, totp } = await seededDirectory(oldKey);

    const rotated = await runCli(["keys", "rotate"], env(`${newKey.entry},${oldKey.entry}`), cwd);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /rewrapped 7 of 7 under key "new"; 0 already current/);
    assert.match(rotated.stdout, /older MASTER_KEY entries can now be removed/);
    // Not a terminal: no redrawn bar, one plain final line with counts and rate.
    assert.match(rotated.stderr, /^checked 7\/7 {2}100% {2}\d+ rows\/s\n$/);
    assert.ok(!rotated.stderr.includes("\r"));

    await withDatabase(cwd, async (db) => {
      const rows = new Map((await readVersions(db)).map((row) => [row.id, row]));
      for (const version of seeded) {
        const row = rows.get(version.id);
        assert.ok(row);
        assert.deepEqual(openSecretVersion([newKey], version.identity, row).value, version.value);
      }
      const user = await db
        .selectFrom("users")
        .select("totp_secret")
        .where("id", "=", totp.userId)
        .executeTakeFirstOrThrow();
      assert.ok(user.totp_secret);
      assert.equal(openTotpSecret([newKey], totp.userId, user.totp_secret), totp.secret);
      const event = await db
        .selectFrom("audit_events")
        .selectAll()
        .where("action", "=", "keys.rotate")
        .executeTakeFirstOrThrow();
      assert.equal(event.actor_name, "cli");
      assert.equal(event.outcome, "success");
    });

    // With the old key removed, a rerun finds everything done.
    const again = await runCli(["keys", "rotate"], env(newKey.entry), cwd);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /rewrapped 0 of 7 under key "new"; 7 already current/);

    // --reencrypt under a newer key: new ciphertexts, same plaintext.
    const newer = newMasterKey("newer");
    const before = await withDatabase(cwd, readVersions);
    const reencrypted = await runCli(
      ["keys", "rotate", "--reencrypt", "--batch-size", "2"],
      env(`${newer.entry},${newKey.entry}`),
      cwd,
    );
    assert.equal(reencrypted.code, 0, reencrypted.stderr);
    assert.match(reencrypted.stdout, /re-encrypted 7 of 7 under key "newer"/);
    await withDatabase(cwd, async (db) => {
      const rows = new Map((await readVersions(db)).map((row) => [row.id, row]));
      for (const old of before) {
        const row = rows.get(old.id);
        const version = seeded.find((s) => s.id === old.id);
        assert.ok(row && version);
        assert.notDeepEqual(row.ciphertext, old.ciphertext);
        assert.deepEqual(openSecretVersion([newer], version.identity, row).value, version.value);
      }
    });

    const verify = await runCli(["audit", "verify"], env(newer.entry), cwd);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(verify.stdout, /^audit chain intact: \d+ events\n$/);
  });

  it("refuses with one clear line when a key still in use is missing", async () => {
    const oldKey = newMasterKey("old");
    const { cwd, env } = await seededDirectory(oldKey);
    const result = await runCli(["keys", "rotate"], env(newMasterKey("new").entry), cwd);
    assert.equal(result.code, 1);
    assertOneLine(result.stderr);
    assert.match(
      result.stderr,
      /^strongroom: keys rotate: MASTER_KEY lacks "old" \(6 secret versions\): put the old key back/,
    );
    assert.ok(!result.stderr.includes(oldKey.entry.split(":")[1] ?? "??"), "no key material");
  });

  it("rejects a bad --batch-size as a usage error and a bad MASTER_KEY in one line", async () => {
    const oldKey = newMasterKey("old");
    const { cwd, env } = await seededDirectory(oldKey);
    const usage = await runCli(["keys", "rotate", "--batch-size", "0"], env(oldKey.entry), cwd);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--batch-size must be 1–10000/);
    const badKey = await runCli(["keys", "rotate"], env("new:tooshort"), cwd);
    assert.equal(badKey.code, 1);
    assertOneLine(badKey.stderr);
    assert.match(badKey.stderr, /MASTER_KEY/);
    const help = await runCli(["keys", "rotate", "--help"], {}, cwd);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--reencrypt/);
  });

  it("Ctrl-C stops after the batch in flight (exit 130) and a rerun finishes", async () => {
    const oldKey = newMasterKey("old");
    const newKey = newMasterKey("new");
    const { cwd, env } = await seededDirectory(oldKey, { vaults: 1, secrets: 20, versions: 100 });
    const running = startCli(
      ["keys", "rotate", "--batch-size", "1"],
      env(`${newKey.entry},${oldKey.entry}`),
      cwd,
    );
    // Wait until rows are being rewritten, then interrupt as a terminal's Ctrl-C would.
    await withDatabase(cwd, async (db) => {
      for (let attempt = 0; attempt < 500; attempt++) {
        const row = await db
          .selectFrom("secret_versions")
          .select("id")
          .where("key_id", "=", "new")
          .executeTakeFirst();
        if (row !== undefined) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.fail("the rotation never started");
    });
    running.child.kill("SIGINT");
    assert.equal(await running.exited, 130, running.stderr());
    assert.match(running.stderr(), /stopping after this batch/);
    assert.match(running.stdout(), /interrupted: run `strongroom keys rotate` again to finish/);
    const done = /rewrapped (\d+) of 2001/.exec(running.stdout());
    assert.ok(done && Number(done[1]) > 0 && Number(done[1]) < 2001, running.stdout());

    const rerun = await runCli(["keys", "rotate"], env(`${newKey.entry},${oldKey.entry}`), cwd);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stdout, new RegExp(`rewrapped ${2001 - Number(done[1])} of 2001`));
    const verify = await runCli(["audit", "verify"], env(newKey.entry), cwd);
    assert.match(verify.stdout, /^audit chain intact: 2 events\n$/);
  });
});

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { verifyAuditChain } from "../../src/audit/index.js";
import type { BackupTable, TableRow } from "../../src/backup/backup.repository.js";
import {
  BACKUP_TABLES,
  readRowsAfter,
  TRANSIENT_TABLES,
  tableColumns,
} from "../../src/backup/backup.repository.js";
import { createBackup, inspectBackup, restoreBackup } from "../../src/backup/backup.service.js";
import type { BackupSecret } from "../../src/backup/backup-format.js";
import {
  BackupError,
  createBackupEncryptor,
  deriveBackupKey,
  encodeBackupPreamble,
  newBackupHeader,
} from "../../src/backup/backup-format.js";
import type { DatabaseHandle } from "../../src/db/database.js";
import { openDatabase } from "../../src/db/database.js";
import { appliedMigrations } from "../../src/db/migrate.js";
import type { Db } from "../../src/db/schema.js";
import { SecretBytes } from "../../src/lib/secret-bytes.js";
import type { SignedIn } from "../helpers/accounts.js";
import { asSession, createTestUser, GOOD_PASSWORD, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";
import type { TestDatabase } from "../helpers/databases.js";
import { testDatabaseTargets } from "../helpers/databases.js";
import { seedTotpUser } from "../keys/fixtures.js";

const ACTOR = { id: null, name: "test" };
const PASSPHRASE = "correct horse battery staple, twice";

/** Every row of every backed-up table, in key order. */
async function dump(db: Db, tables: readonly BackupTable[] = BACKUP_TABLES) {
  const all: Record<string, TableRow[]> = {};
  for (const table of tables) {
    const rows: TableRow[] = [];
    for (let after: TableRow | null = null; ; ) {
      const page = await readRowsAfter(db, table, after, 1000);
      rows.push(...page);
      after = page.at(-1) ?? null;
      if (page.length < 1000) break;
    }
    all[table.name] = rows;
  }
  return all;
}

for (const kind of testDatabaseTargets()) {
  describe(`backup and restore (${kind.name})`, () => {
    const databases: TestDatabase[] = [];
    const dir = mkdtempSync(join(tmpdir(), "strongroom-backup-"));
    let source: TestApp;
    let owner: SignedIn;
    let secret: BackupSecret;
    const call = (method: "GET" | "PUT" | "DELETE", url: string, payload?: unknown) =>
      source.app.inject({
        method,
        url: `/api/v1${url}`,
        headers: asSession(owner),
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });

    const freshDatabase = async (): Promise<DatabaseHandle> => {
      const created = await kind.create();
      databases.push(created);
      return openDatabase(created.target);
    };
    const masterKeyEntry = (): string => {
      const [current] = source.config.masterKeys;
      assert.ok(current);
      return `${current.id}:${current.key.reveal().toString("base64")}`;
    };

    /**
     * Writes a backup file with exactly `lines` as its body (plus the end line), encrypted as
     * createBackup does: for backups in a layout createBackup no longer writes.
     */
    const writeBackupFile = async (path: string, lines: unknown[]): Promise<void> => {
      const header = newBackupHeader(secret, {
        engine: kind.name === "postgres" ? "postgres" : "sqlite",
        migrations: await appliedMigrations(source.database.db),
        now: new Date(),
      });
      const encryptor = createBackupEncryptor(header, await deriveBackupKey(header, secret));
      const body = [...lines, { end: true }]
        .map((line) =>
          JSON.stringify(line, function (this: Record<string, unknown>, key, value) {
            const raw = this[key];
            return Buffer.isBuffer(raw) ? { $b64: raw.toString("base64") } : value;
          }),
        )
        .join("\n");
      writeFileSync(
        path,
        Buffer.concat([
          encodeBackupPreamble(header),
          encryptor.update(Buffer.from(`${body}\n`)),
          encryptor.final(),
        ]),
        { mode: 0o600 },
      );
    };

    before(async () => {
      const created = await kind.create();
      databases.push(created);
      source = await createTestApp({ target: created.target });
      secret = { kind: "master-key", keyring: source.config.masterKeys };
      await createTestUser(source, { username: "owner_a", role: "admin" });
      await createTestUser(source, { username: "viewer_a" });
      await seedTotpUser(source.database.db, source.config.masterKeys, "totp_user");
      owner = await signIn(source, "owner_a");
      const vault = await source.app.inject({
        method: "POST",
        url: "/api/v1/vaults",
        headers: asSession(owner),
        payload: { slug: "vault-a", description: "the first vault" },
      });
      assert.equal(vault.statusCode, 201, vault.body);
      assert.equal(
        (await call("PUT", "/vaults/vault-a/members/viewer_a", { role: "viewer" })).statusCode,
        201,
      );
      for (const [name, value] of [
        ["DB_PASSWORD", "first"],
        ["DB_PASSWORD", "second ünïcödé"],
        ["API_KEY", "sk_live_123"],
        ["DOOMED", "destroy me after the backup"],
      ] as const) {
        const put = await call("PUT", `/vaults/vault-a/secrets/${name}`, {
          value,
          note: `note of ${name}`,
        });
        assert.ok(put.statusCode === 200 || put.statusCode === 201, put.body);
      }
      const token = await source.app.inject({
        method: "POST",
        url: "/api/v1/me/tokens",
        headers: asSession(owner),
        payload: {
          name: "ci",
          scopes: [{ vault: "vault-a", permission: "read" }],
          expiresInDays: 30,
        },
      });
      assert.equal(token.statusCode, 201, token.body);
    });

    after(async () => {
      await source.close();
      for (const database of databases) await database.cleanup();
    });

    it("accounts for every table: backed up, or named as transient", async () => {
      const tables = [...(await tableColumns(source.database.db)).keys()].sort();
      const covered = [...BACKUP_TABLES.map((table) => table.name), ...TRANSIENT_TABLES].sort();
      assert.deepEqual(tables, covered);
    });

    it("round-trips every row into an empty database, which then serves the same data", async () => {
      const path = join(dir, `round-trip-${kind.name}.backup`);
      const progress: number[] = [];
      const before = await dump(source.database.db);
      const result = await createBackup(source.database.db, path, {
        secret,
        actor: ACTOR,
        now: () => new Date(),
        onProgress: (done) => progress.push(done),
      });
      assert.equal(statSync(path).mode & 0o777, 0o600);
      assert.equal(result.rows, Object.values(before).flat().length);
      assert.equal(progress.at(-1), result.rows);
      const raw = readFileSync(path);
      for (const plaintext of ["sk_live_123", "owner_a", "vault-a", "DB_PASSWORD", "argon2id"]) {
        assert.equal(raw.includes(plaintext), false, `${plaintext} is readable in the file`);
      }

      const target = await freshDatabase();
      try {
        const restored = await restoreBackup(target.db, path, {
          secret,
          keyring: source.config.masterKeys,
          actor: ACTOR,
          now: () => new Date(),
        });
        assert.equal(restored.rows, result.rows);
        assert.equal(restored.dropped, 0);
        assert.deepEqual(restored.audit.ok, true);
        const after = await dump(target.db);
        const { audit_events: restoredAudit = [], ...restoredRest } = after;
        const { audit_events: sourceAudit = [], ...sourceRest } = before;
        assert.deepEqual(restoredRest, sourceRest);
        // The same chain, plus the restore's own event at its end.
        assert.deepEqual(restoredAudit.slice(0, sourceAudit.length), sourceAudit);
        assert.equal(restoredAudit.at(-1)?.action, "backup.restore");
      } finally {
        await target.close();
      }

      // The restored database serves: the same users sign in, the same values decrypt.
      const served = await createTestApp({
        target: target.target,
        env: { MASTER_KEY: masterKeyEntry() },
      });
      try {
        const viewer = await signIn(served, "viewer_a", GOOD_PASSWORD);
        const read = await served.app.inject({
          url: "/api/v1/vaults/vault-a/secrets/DB_PASSWORD",
          headers: { cookie: viewer.cookie },
        });
        assert.equal(read.statusCode, 200, read.body);
        assert.equal(read.json().value, "second ünïcödé");
        // Further events append to the restored chain, which still verifies.
        const actions = await served.database.db
          .selectFrom("audit_events")
          .select("action")
          .orderBy("seq")
          .execute();
        const restoreAt = actions.findIndex((row) => row.action === "backup.restore");
        assert.ok(actions.slice(restoreAt).some((row) => row.action === "login.success"));
        assert.equal((await verifyAuditChain(served.database.db)).ok, true);
      } finally {
        await served.close();
      }
    });

    it("a secret shredded after the backup stays shredded when that backup is restored", async () => {
      const path = join(dir, `shred-${kind.name}.backup`);
      await createBackup(source.database.db, path, { secret, actor: ACTOR, now: () => new Date() });
      assert.equal((await call("DELETE", "/vaults/vault-a/secrets/DOOMED")).statusCode, 204);
      const doomedBefore = await source.database.db
        .selectFrom("shredded_secrets")
        .select("secret_id")
        .execute();
      assert.equal(doomedBefore.length, 1);
      // The audit log about to be replaced: its size and newest hash must survive the restore.
      const replaced = await source.database.db
        .selectFrom("audit_events")
        .select("hash")
        .orderBy("seq")
        .execute();
      const restored = await restoreBackup(source.database.db, path, {
        secret,
        keyring: source.config.masterKeys,
        actor: ACTOR,
        now: () => new Date(),
        force: true,
      });
      assert.equal(restored.dropped, 1);
      assert.equal(restored.audit.ok, true);
      const db = source.database.db;
      assert.deepEqual(restored.replacedAudit, {
        events: replaced.length,
        head: replaced.at(-1)?.hash ?? null,
      });
      const restoreEvent = await db
        .selectFrom("audit_events")
        .select("details")
        .where("action", "=", "backup.restore")
        .orderBy("seq", "desc")
        .executeTakeFirst();
      const details = JSON.parse(String(restoreEvent?.details)) as Record<string, unknown>;
      assert.equal(
        details.replacedEvents,
        replaced.length,
        "the new chain records what it replaced",
      );
      assert.equal(details.replacedHead, replaced.at(-1)?.hash);
      const names = await db.selectFrom("secrets").select("name").orderBy("name").execute();
      assert.deepEqual(
        names.map((row) => row.name),
        ["API_KEY", "DB_PASSWORD"],
      );
      const versions = await db
        .selectFrom("secret_versions")
        .select("secret_id")
        .where("secret_id", "=", doomedBefore[0]?.secret_id ?? "")
        .execute();
      assert.equal(versions.length, 0);
      // The ledger still names it, so a restore of that backup once more drops it again.
      const ledger = await db.selectFrom("shredded_secrets").select("secret_id").execute();
      assert.deepEqual(ledger, doomedBefore);
      // Sessions are not in backups: everyone signs in again after a restore.
      assert.equal((await db.selectFrom("sessions").select("id").execute()).length, 0);
      owner = await signIn(source, "owner_a");
    });

    it("never brings a one-time share link back: new backups leave them out, older ones' are dropped", async () => {
      const link = await source.app.inject({
        method: "POST",
        url: "/api/v1/vaults/vault-a/secrets/API_KEY/shares",
        headers: asSession(owner),
        payload: { ciphertext: randomBytes(64).toString("base64url") },
      });
      assert.equal(link.statusCode, 201, link.body);
      const shareId = String(link.json().share.id);
      const shareRows = await source.database.db.selectFrom("shares").selectAll().execute();
      assert.equal(shareRows.length, 1);

      // A backup written now holds no share rows (and counts none).
      const path = join(dir, `shares-${kind.name}.backup`);
      await createBackup(source.database.db, path, { secret, actor: ACTOR, now: () => new Date() });
      const contents = await inspectBackup(path, secret);
      assert.equal(contents.counts.shares, undefined);

      // A backup in the earlier layout, with the link's row after the other tables, still
      // restores: its share rows are checked against their count and dropped.
      const tables = await dump(source.database.db);
      const counts = Object.fromEntries(
        Object.entries(tables).map(([t, rows]) => [t, rows.length]),
      );
      const rows = [
        ...Object.entries(tables).flatMap(([t, list]) => list.map((r) => ({ t, r }))),
        ...shareRows.map((r) => ({ t: "shares", r })),
      ];
      const older = join(dir, `shares-older-${kind.name}.backup`);
      await writeBackupFile(older, [{ counts: { ...counts, shares: 1 } }, ...rows]);
      const target = await freshDatabase();
      try {
        const restored = await restoreBackup(target.db, older, {
          secret,
          keyring: source.config.masterKeys,
          actor: ACTOR,
          now: () => new Date(),
        });
        assert.equal(restored.sharesLeftOut, 1);
        assert.equal(restored.audit.ok, true);
        assert.deepEqual(await target.db.selectFrom("shares").select("id").execute(), []);
        const restoredSecrets = await target.db.selectFrom("secrets").select("id").execute();
        assert.equal(restoredSecrets.length, tables.secrets?.length, "everything else came back");
      } finally {
        await target.close();
      }
      // A share count that does not match the share rows is damage, as for any table.
      const lying = join(dir, `shares-lying-${kind.name}.backup`);
      await writeBackupFile(lying, [{ counts: { ...counts, shares: 2 } }, ...rows]);
      await assert.rejects(inspectBackup(lying, secret), /number of shares rows does not match/);

      // The link still works where it was made: only restores never bring links back.
      const opened = await source.app.inject({ url: `/api/v1/shares/${shareId}` });
      assert.equal(opened.statusCode, 200, opened.body);
    });

    it("refuses a database that is not empty without force, changing nothing", async () => {
      const path = join(dir, `refuse-${kind.name}.backup`);
      await createBackup(source.database.db, path, { secret, actor: ACTOR, now: () => new Date() });
      const before = await dump(source.database.db);
      await assert.rejects(
        restoreBackup(source.database.db, path, {
          secret,
          keyring: source.config.masterKeys,
          actor: ACTOR,
          now: () => new Date(),
        }),
        (error: Error) =>
          error instanceof BackupError && /not empty \(.*users.*\).*--force/.test(error.message),
      );
      assert.deepEqual(await dump(source.database.db), before);
    });

    it("refuses tampered, truncated, wrong-key and foreign files before touching anything", async () => {
      const path = join(dir, `tamper-${kind.name}.backup`);
      await createBackup(source.database.db, path, { secret, actor: ACTOR, now: () => new Date() });
      const good = readFileSync(path);
      const headerEnd = good.indexOf(0x0a, good.indexOf(0x0a) + 1);
      const flip = (at: number): Buffer => {
        const copy = Buffer.from(good);
        copy[at] = (copy[at] ?? 0) ^ 0x01;
        return copy;
      };
      const cases: Array<[string, Buffer, RegExp]> = [
        ["a flipped body byte", flip(headerEnd + 40), /integrity check/],
        ["a flipped tag byte", flip(good.length - 1), /integrity check/],
        ["a flipped header byte (salt)", flip(good.indexOf("salt") + 8), /integrity check|header/],
        ["a truncated body", good.subarray(0, good.length - 100), /integrity check/],
        ["a file cut inside its header", good.subarray(0, 40), /header|truncated/],
        ["a file cut to its header", good.subarray(0, headerEnd + 1), /truncated/],
        ["something else", Buffer.from("SQLite format 3\0"), /not a Strongroom backup/],
      ];
      const before = await dump(source.database.db);
      for (const [label, bytes, message] of cases) {
        const bad = join(dir, `bad-${kind.name}.backup`);
        writeFileSync(bad, bytes);
        await assert.rejects(
          restoreBackup(source.database.db, bad, {
            secret,
            keyring: source.config.masterKeys,
            actor: ACTOR,
            now: () => new Date(),
            force: true,
          }),
          (error: Error) => error instanceof BackupError && message.test(error.message),
          label,
        );
      }
      const otherKey = {
        id: source.config.masterKeys[0]?.id ?? "",
        key: new SecretBytes(Buffer.alloc(32, 7)),
      };
      await assert.rejects(
        restoreBackup(source.database.db, path, {
          secret: { kind: "master-key", keyring: [otherKey] },
          keyring: source.config.masterKeys,
          actor: ACTOR,
          now: () => new Date(),
          force: true,
        }),
        /integrity check/,
      );
      await assert.rejects(
        restoreBackup(source.database.db, path, {
          secret: { kind: "passphrase", passphrase: PASSPHRASE },
          keyring: source.config.masterKeys,
          actor: ACTOR,
          now: () => new Date(),
          force: true,
        }),
        /encrypted with the master key/,
      );
      assert.deepEqual(await dump(source.database.db), before);
    });

    it("rolls everything back when the file changes between its check and its use", async () => {
      const path = join(dir, `swap-${kind.name}.backup`);
      await createBackup(source.database.db, path, { secret, actor: ACTOR, now: () => new Date() });
      const good = readFileSync(path);
      const before = await dump(source.database.db);
      let swapped = false;
      await assert.rejects(
        restoreBackup(source.database.db, path, {
          secret,
          keyring: source.config.masterKeys,
          actor: ACTOR,
          now: () => new Date(),
          force: true,
          onProgress: (phase, done, total) => {
            // The check has read every byte: alter one before the restore reads it again.
            if (phase === "check" && done === total && !swapped) {
              const altered = Buffer.from(good);
              const at = altered.length - 40;
              altered[at] = (altered[at] ?? 0) ^ 0x01;
              writeFileSync(path, altered);
              swapped = true;
            }
          },
        }),
        /integrity check/,
      );
      assert.equal(swapped, true);
      assert.deepEqual(await dump(source.database.db), before);
    });

    it("with a passphrase: restores with it, refuses a wrong one", async () => {
      const path = join(dir, `passphrase-${kind.name}.backup`);
      const pass: BackupSecret = { kind: "passphrase", passphrase: PASSPHRASE };
      await createBackup(source.database.db, path, {
        secret: pass,
        actor: ACTOR,
        now: () => new Date(),
      });
      const target = await freshDatabase();
      try {
        await assert.rejects(
          restoreBackup(target.db, path, {
            secret: { kind: "passphrase", passphrase: `${PASSPHRASE}!` },
            keyring: source.config.masterKeys,
            actor: ACTOR,
            now: () => new Date(),
          }),
          /integrity check/,
        );
        await assert.rejects(
          restoreBackup(target.db, path, {
            secret: pass,
            keyring: [],
            actor: ACTOR,
            now: () => new Date(),
          }),
          /master key\(s\) ".*", not in MASTER_KEY/,
        );
        const restored = await restoreBackup(target.db, path, {
          secret: pass,
          keyring: source.config.masterKeys,
          actor: ACTOR,
          now: () => new Date(),
        });
        assert.equal(restored.audit.ok, true);
        const names = await target.db.selectFrom("secrets").select("name").execute();
        assert.ok(names.length >= 2);
      } finally {
        await target.close();
      }
    });
  });
}

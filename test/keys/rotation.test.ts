import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { KyselyPlugin } from "kysely";
import { openTotpSecret, sealTotpSecret } from "../../src/accounts/totp-secrets.js";
import { listAuditEvents } from "../../src/audit/audit.repository.js";
import { verifyAuditChain } from "../../src/audit/audit-verify.js";
import type { MasterKey } from "../../src/config/keys.js";
import { DecryptionError, decryptEnvelope, unpackEnvelope } from "../../src/crypto/envelope.js";
import type { DatabaseHandle } from "../../src/db/database.js";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import {
  KeyRotationError,
  prepareRotationBatch,
  rotateKeys,
  writeRotationBatch,
} from "../../src/keys/rotation.service.js";
import { secretVersionSource } from "../../src/keys/rotation-sources.js";
import { openSecretVersion, sealSecretVersion } from "../../src/vaults/secret-crypto.js";
import type { TestDatabase } from "../helpers/databases.js";
import { testDatabaseTargets } from "../helpers/databases.js";
import type { SeededVersion } from "./fixtures.js";
import { newMasterKey, readVersions, seedSecretVersions, seedTotpUser } from "./fixtures.js";

const SHAPE = { vaults: 2, secrets: 3, versions: 3 }; // 18 versions, 9 with notes

/** Asserts every seeded version opens with `keyring` to its original plaintext. */
async function assertAllOpen(
  database: DatabaseHandle,
  keyring: readonly MasterKey[],
  seeded: readonly SeededVersion[],
): Promise<void> {
  const rows = new Map((await readVersions(database.db)).map((row) => [row.id, row]));
  for (const version of seeded) {
    const row = rows.get(version.id);
    assert.ok(row, `version ${version.id} exists`);
    const opened = openSecretVersion(keyring, version.identity, row);
    assert.deepEqual(opened.value, version.value);
    assert.deepEqual(opened.note, version.note);
  }
}

/** A plugin that makes the `n`-th UPDATE of `secret_versions` throw, as a crash would. */
function failOnUpdate(n: number): KyselyPlugin & { updates: number } {
  const plugin = {
    updates: 0,
    transformQuery(args: Parameters<KyselyPlugin["transformQuery"]>[0]) {
      if (args.node.kind === "UpdateQueryNode") {
        plugin.updates += 1;
        if (plugin.updates === n) throw new Error("simulated crash mid-batch");
      }
      return args.node;
    },
    transformResult: async (args: Parameters<KyselyPlugin["transformResult"]>[0]) => args.result,
  };
  return plugin;
}

for (const kind of testDatabaseTargets()) {
  describe(`key rotation (${kind.name})`, () => {
    let testDb: TestDatabase;
    let database: DatabaseHandle;
    let oldKey: MasterKey;
    let newKey: MasterKey;
    let seeded: SeededVersion[];
    let totp: { userId: string; secret: string };

    before(async () => {
      testDb = await kind.create();
      database = await openDatabase(testDb.target);
      await migrateToLatest(database.db);
    });
    after(async () => {
      await database.close();
      await testDb.cleanup();
    });

    /** Empties the tables and seeds fresh data under a fresh "old" key. */
    async function reseed(): Promise<void> {
      await database.db.deleteFrom("secret_versions").execute();
      await database.db.deleteFrom("secrets").execute();
      await database.db.deleteFrom("vaults").execute();
      await database.db.deleteFrom("users").execute();
      oldKey = newMasterKey("old");
      newKey = newMasterKey("new");
      seeded = await seedSecretVersions(database.db, [oldKey], SHAPE);
      totp = await seedTotpUser(database.db, [oldKey], "totpuser");
    }

    it("rewraps every data key so that the new key alone opens everything", async () => {
      await reseed();
      const before = await readVersions(database.db);
      const progress: Array<[number, number]> = [];
      const result = await rotateKeys(database.db, [newKey, oldKey], {
        reencrypt: false,
        batchSize: 4,
        onProgress: (done, total) => {
          progress.push([done, total]);
        },
      });
      assert.deepEqual(
        { ...result, failed: result.failed.length },
        {
          keyId: "new",
          rewrapped: 19,
          skipped: 0,
          failed: 0,
          total: 19,
          remaining: 0,
          interrupted: false,
        },
      );
      assert.deepEqual(progress.at(-1), [19, 19]);
      assert.ok(progress.length >= 5, "reports progress per batch");

      await assertAllOpen(database, [newKey], seeded);
      const sealedTotp = await database.db
        .selectFrom("users")
        .select("totp_secret")
        .where("id", "=", totp.userId)
        .executeTakeFirstOrThrow();
      assert.ok(sealedTotp.totp_secret);
      assert.equal(openTotpSecret([newKey], totp.userId, sealedTotp.totp_secret), totp.secret);

      // A rewrap keeps the value's nonce and ciphertext; only the wrapped key changes.
      const after = new Map((await readVersions(database.db)).map((row) => [row.id, row]));
      for (const row of before) {
        const now = after.get(row.id);
        assert.ok(now);
        assert.equal(now.key_id, "new");
        assert.deepEqual(now.ciphertext, row.ciphertext);
        assert.deepEqual(now.nonce, row.nonce);
        assert.notDeepEqual(now.wrapped_key, row.wrapped_key);
        if (row.note_ciphertext !== null) {
          assert.ok(now.note_ciphertext);
          assert.equal(unpackEnvelope(now.note_ciphertext).keyId, "new");
        }
      }
      // And the old key alone no longer opens anything.
      const first = seeded[0];
      const firstRow = first && after.get(first.id);
      assert.ok(first && firstRow);
      assert.throws(() => openSecretVersion([oldKey], first.identity, firstRow), DecryptionError);

      const events = await listAuditEvents(database.db, { action: "keys.rotate", limit: 5 });
      const event = events[0];
      assert.ok(event);
      assert.equal(event.outcome, "success");
      assert.equal(event.target, "new");
      assert.deepEqual(JSON.parse(event.details ?? "{}"), {
        mode: "rewrap",
        examined: 19,
        total: 19,
        rewrapped: 19,
        skipped: 0,
        failed: 0,
        remaining: 0,
        interrupted: false,
      });
      assert.equal((await verifyAuditChain(database.db)).ok, true);
    });

    it("a second run finds nothing to do", async () => {
      await reseed();
      await rotateKeys(database.db, [newKey, oldKey], { reencrypt: false });
      const snapshot = await readVersions(database.db);
      const again = await rotateKeys(database.db, [newKey], { reencrypt: false });
      assert.equal(again.rewrapped, 0);
      assert.equal(again.skipped, 19);
      assert.equal(again.remaining, 0);
      assert.deepEqual(await readVersions(database.db), snapshot);
    });

    it("--reencrypt replaces data keys and ciphertexts but not the plaintext", async () => {
      await reseed();
      const before = new Map((await readVersions(database.db)).map((row) => [row.id, row]));
      const result = await rotateKeys(database.db, [newKey, oldKey], {
        reencrypt: true,
        batchSize: 5,
      });
      assert.equal(result.rewrapped, 19);
      assert.equal(result.remaining, 0);
      await assertAllOpen(database, [newKey], seeded);

      for (const row of await readVersions(database.db)) {
        const old = before.get(row.id);
        assert.ok(old);
        assert.equal(row.key_id, "new");
        assert.notDeepEqual(row.ciphertext, old.ciphertext);
        assert.notDeepEqual(row.nonce, old.nonce);
        // The old data key (still unwrappable with the old master key) does not open the new
        // ciphertext: the data key itself was replaced, not only rewrapped.
        const version = seeded.find((s) => s.id === row.id);
        assert.ok(version);
        const aad = `secret:value:${version.identity.vaultId}:${version.identity.secretId}:${version.identity.version}`;
        assert.throws(
          () =>
            decryptEnvelope(
              [newKey, oldKey],
              {
                keyId: old.key_id,
                wrappedKey: old.wrapped_key,
                nonce: row.nonce,
                ciphertext: row.ciphertext,
              },
              aad,
            ),
          DecryptionError,
        );
      }
      const sealedTotp = await database.db
        .selectFrom("users")
        .select("totp_secret")
        .where("id", "=", totp.userId)
        .executeTakeFirstOrThrow();
      assert.ok(sealedTotp.totp_secret);
      assert.equal(openTotpSecret([newKey], totp.userId, sealedTotp.totp_secret), totp.secret);
      const events = await listAuditEvents(database.db, { action: "keys.rotate", limit: 1 });
      assert.equal(JSON.parse(events[0]?.details ?? "{}").mode, "reencrypt");
    });

    it("a crash mid-batch leaves each row wholly old or wholly new, and a rerun completes", async () => {
      await reseed();
      const before = new Map((await readVersions(database.db)).map((row) => [row.id, row]));
      const plugin = failOnUpdate(7); // batches of 4: the second batch dies on its third row
      await assert.rejects(
        rotateKeys(database.db.withPlugin(plugin), [newKey, oldKey], {
          reencrypt: true,
          batchSize: 4,
        }),
        /simulated crash/,
      );
      const rows = await readVersions(database.db);
      let fresh = 0;
      for (const row of rows) {
        const old = before.get(row.id);
        assert.ok(old);
        if (row.key_id === "old") {
          assert.deepEqual(row, old, "an untouched row is byte-for-byte what it was");
        } else {
          fresh += 1;
          assert.equal(row.key_id, "new");
          if (row.note_ciphertext !== null)
            assert.equal(unpackEnvelope(row.note_ciphertext).keyId, "new");
        }
      }
      assert.equal(fresh, 4, "only the committed first batch was written");
      // Readers never fail in between: both keys are in the keyring.
      await assertAllOpen(database, [newKey, oldKey], seeded);
      const failure = await listAuditEvents(database.db, { action: "keys.rotate", limit: 1 });
      assert.equal(failure[0]?.outcome, "failure");

      const rerun = await rotateKeys(database.db, [newKey, oldKey], { reencrypt: true });
      assert.equal(rerun.rewrapped, 15); // 14 versions + the TOTP secret
      assert.equal(rerun.skipped, 4);
      assert.equal(rerun.remaining, 0);
      await assertAllOpen(database, [newKey], seeded);
    });

    it("stops cleanly after the current batch when aborted, and resumes", async () => {
      await reseed();
      const stop = new AbortController();
      const first = await rotateKeys(database.db, [newKey, oldKey], {
        reencrypt: false,
        batchSize: 5,
        signal: stop.signal,
        onProgress: (done) => {
          if (done >= 10) stop.abort();
        },
      });
      assert.equal(first.interrupted, true);
      assert.equal(first.rewrapped, 10);
      assert.equal(first.remaining, 9);
      const second = await rotateKeys(database.db, [newKey, oldKey], { reencrypt: false });
      assert.equal(second.interrupted, false);
      assert.equal(second.rewrapped, 9);
      assert.equal(second.skipped, 10);
      await assertAllOpen(database, [newKey], seeded);
    });

    it("readers succeed with [new, old] at every point of a rotation", async () => {
      await reseed();
      let checks = 0;
      const pending: Array<Promise<void>> = [];
      await rotateKeys(database.db, [newKey, oldKey], {
        reencrypt: true,
        batchSize: 3,
        onProgress: () => {
          checks += 1;
          pending.push(assertAllOpen(database, [newKey, oldKey], seeded));
        },
      });
      await Promise.all(pending);
      assert.ok(checks >= 6);
    });

    it("never overwrites a row another writer changed between read and write", async () => {
      await reseed();
      const keyring = [newKey, oldKey];
      const batch = await prepareRotationBatch(database.db, keyring, secretVersionSource, {
        afterId: null,
        limit: 100,
        reencrypt: false,
      });
      assert.equal(batch.writes.length, 18);
      // Meanwhile: another writer re-encrypts one row, and one secret is shredded.
      const [raced, shredded] = seeded;
      assert.ok(raced && shredded);
      const theirs = sealSecretVersion(keyring, raced.identity, raced.value, raced.note);
      await database.db
        .updateTable("secret_versions")
        .set(theirs)
        .where("id", "=", raced.id)
        .execute();
      await database.db.deleteFrom("secret_versions").where("id", "=", shredded.id).execute();

      const { written, conflicts } = await writeRotationBatch(database.db, batch);
      assert.equal(written, 16);
      assert.equal(conflicts, 2);
      const row = await database.db
        .selectFrom("secret_versions")
        .selectAll()
        .where("id", "=", raced.id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(row.wrapped_key, theirs.wrapped_key, "the concurrent write survives");
      assert.deepEqual(row.ciphertext, theirs.ciphertext);
      const gone = await database.db
        .selectFrom("secret_versions")
        .select("id")
        .where("id", "=", shredded.id)
        .executeTakeFirst();
      assert.equal(gone, undefined, "a shredded row is not brought back");
    });

    it("reports rows written under an old key meanwhile as remaining", async () => {
      await reseed();
      const result = await rotateKeys(database.db, [newKey, oldKey], {
        reencrypt: false,
        batchSize: 4,
        onProgress: async (done) => {
          // An instance that still has only the old key writes a version during the run,
          // into the part of the table already walked (id "0…" sorts first).
          if (done === 4) {
            const version = seeded[0];
            assert.ok(version);
            await database.db
              .insertInto("secret_versions")
              .values({
                id: "00000000-0000-4000-8000-000000000000",
                secret_id: version.identity.secretId,
                version: 99,
                ...sealSecretVersion(
                  [oldKey],
                  { ...version.identity, version: 99 },
                  Buffer.from("late"),
                  null,
                ),
                created_by: null,
                created_at: new Date().toISOString(),
              })
              .execute();
          }
        },
      });
      assert.equal(result.remaining, 1);
      const event = (await listAuditEvents(database.db, { action: "keys.rotate", limit: 1 }))[0];
      assert.equal(event?.outcome, "failure", "not safe to drop the old key yet");
      const again = await rotateKeys(database.db, [newKey, oldKey], { reencrypt: false });
      assert.equal(again.rewrapped, 1);
      assert.equal(again.remaining, 0);
    });

    it("refuses to start when a key still in use is missing from the keyring", async () => {
      await reseed();
      const snapshot = await readVersions(database.db);
      await assert.rejects(
        rotateKeys(database.db, [newKey], { reencrypt: false }),
        (error: unknown) =>
          error instanceof KeyRotationError &&
          /MASTER_KEY lacks "old" \(18 secret versions\)/.test(error.message),
      );
      assert.deepEqual(await readVersions(database.db), snapshot, "nothing changed");
    });

    it("leaves a tampered row as it is and names it, finishing the rest", async () => {
      await reseed();
      const victim = seeded[3];
      assert.ok(victim);
      const row = await database.db
        .selectFrom("secret_versions")
        .selectAll()
        .where("id", "=", victim.id)
        .executeTakeFirstOrThrow();
      const tampered = Buffer.from(row.wrapped_key);
      tampered[20] = (tampered[20] ?? 0) ^ 1;
      await database.db
        .updateTable("secret_versions")
        .set({ wrapped_key: tampered })
        .where("id", "=", victim.id)
        .execute();
      const result = await rotateKeys(database.db, [newKey, oldKey], { reencrypt: false });
      assert.deepEqual(result.failed, [victim.id]);
      assert.equal(result.rewrapped, 18);
      assert.equal(result.remaining, 1);
      const still = await database.db
        .selectFrom("secret_versions")
        .select("wrapped_key")
        .where("id", "=", victim.id)
        .executeTakeFirstOrThrow();
      assert.deepEqual(still.wrapped_key, tampered);
    });

    it("leaves a TOTP secret re-enrolled during the run to its new owner", async () => {
      await reseed();
      const keyring = [newKey, oldKey];
      const { totpSecretSource } = await import("../../src/keys/rotation-sources.js");
      const batch = await prepareRotationBatch(database.db, keyring, totpSecretSource, {
        afterId: null,
        limit: 10,
        reencrypt: false,
      });
      const reenrolled = sealTotpSecret([oldKey], totp.userId, "NEWSECRETNEWSECR");
      await database.db
        .updateTable("users")
        .set({ totp_secret: reenrolled })
        .where("id", "=", totp.userId)
        .execute();
      assert.deepEqual(await writeRotationBatch(database.db, batch), {
        written: 0,
        conflicts: 1,
      });
      const user = await database.db
        .selectFrom("users")
        .select("totp_secret")
        .where("id", "=", totp.userId)
        .executeTakeFirstOrThrow();
      assert.deepEqual(user.totp_secret, reenrolled);
    });
  });
}

/**
 * Everything Strongroom stores sealed under a master key, each as a {@link RotationSource}
 * that key rotation walks. A new encrypted column joins rotation by adding a source here;
 * forgetting one would leave data that becomes unreadable when the old key is removed.
 */
import { openTotpSecret, sealTotpSecret } from "../accounts/totp-secrets.js";
import type { MasterKey } from "../config/keys.js";
import { needsRewrap, packEnvelope, rewrapEnvelope, unpackEnvelope } from "../crypto/envelope.js";
import type { Db } from "../db/schema.js";
import {
  reencryptSecretVersion,
  rewrapSecretVersion,
  versionNeedsRewrap,
} from "../vaults/secret-crypto.js";
import type { SecretVersionForRotation, TotpSecretForRotation } from "./rotation.repository.js";
import {
  countSecretVersions,
  countSecretVersionsByKeyId,
  countTotpSecrets,
  listSecretVersionsAfter,
  listTotpSecretsAfter,
  updateSecretVersionIfUnchanged,
  updateTotpSecretIfUnchanged,
} from "./rotation.repository.js";

/** One kind of sealed row, walked by id in batches. */
export interface RotationSource<Row extends { id: string }> {
  /** Plural noun for messages, e.g. "secret versions". */
  label: string;
  count(db: Db): Promise<number>;
  listAfter(db: Db, afterId: string | null, limit: number): Promise<Row[]>;
  /**
   * True unless every data key of the row is wrapped by the current (first) master key.
   * @throws DecryptionError when a packed part of the row is malformed.
   */
  needsWork(keyring: readonly MasterKey[], row: Row): boolean;
  /**
   * The row sealed under the current key: the same data keys rewrapped, or with `reencrypt`
   * new data keys and ciphertexts for the same plaintext.
   * @throws DecryptionError when the row cannot be opened with `keyring`.
   */
  reseal(keyring: readonly MasterKey[], row: Row, options: { reencrypt: boolean }): Row;
  /** Writes `next` unless the row changed since `expected` was read; false if it did. */
  writeIfUnchanged(db: Db, expected: Row, next: Row): Promise<boolean>;
  /** Rows not (wholly) under the current key, unreadable ones included. */
  countNotCurrent(db: Db, keyring: readonly MasterKey[]): Promise<number>;
}

/** Every version of every secret: value and note (see `vaults/secret-crypto.ts`). */
export const secretVersionSource: RotationSource<SecretVersionForRotation> = {
  label: "secret versions",
  count: countSecretVersions,
  listAfter: listSecretVersionsAfter,
  needsWork: versionNeedsRewrap,
  reseal(keyring, row, { reencrypt }) {
    const identity = { vaultId: row.vault_id, secretId: row.secret_id, version: row.version };
    const sealed = reencrypt
      ? reencryptSecretVersion(keyring, identity, row)
      : rewrapSecretVersion(keyring, row);
    return { ...row, ...sealed };
  },
  writeIfUnchanged: (db, expected, next) =>
    updateSecretVersionIfUnchanged(db, expected.id, expected, next),
  // By the value's key id alone, in SQL: a version's note is always sealed in the same write
  // as its value, so it is under the same key.
  async countNotCurrent(db, keyring) {
    const currentId = keyring[0]?.id;
    const counts = await countSecretVersionsByKeyId(db);
    return counts.filter((entry) => entry.keyId !== currentId).reduce((n, e) => n + e.count, 0);
  },
};

/**
 * Users' TOTP secrets (enrolled or mid-enrolment). Not secrets of a vault, but sealed under
 * the same master keys: without them here, removing an old key would lock every user with
 * two-factor authentication out.
 */
export const totpSecretSource: RotationSource<TotpSecretForRotation> = {
  label: "two-factor secrets",
  count: countTotpSecrets,
  listAfter: listTotpSecretsAfter,
  needsWork: (keyring, row) => needsRewrap(keyring, unpackEnvelope(row.totp_secret)),
  reseal(keyring, row, { reencrypt }) {
    const totp_secret = reencrypt
      ? sealTotpSecret(keyring, row.id, openTotpSecret(keyring, row.id, row.totp_secret))
      : packEnvelope(rewrapEnvelope(keyring, unpackEnvelope(row.totp_secret)));
    return { id: row.id, totp_secret };
  },
  writeIfUnchanged: (db, expected, next) =>
    updateTotpSecretIfUnchanged(db, expected.id, expected.totp_secret, next.totp_secret),
  // The key id is inside the packed blob, so read them; there is one per enrolled user.
  async countNotCurrent(db, keyring) {
    let count = 0;
    let afterId: string | null = null;
    for (;;) {
      const rows = await listTotpSecretsAfter(db, afterId, 500);
      for (const row of rows) {
        try {
          if (totpSecretSource.needsWork(keyring, row)) count += 1;
        } catch {
          count += 1;
        }
      }
      const last = rows.at(-1);
      if (last === undefined || rows.length < 500) return count;
      afterId = last.id;
    }
  },
};

/**
 * The sources `rotateKeys` walks, in order. (Method parameters are bivariant, so each source
 * fits the element type; the walk only ever hands a source rows that source produced.)
 */
export const ROTATION_SOURCES: ReadonlyArray<RotationSource<{ id: string }>> = [
  secretVersionSource,
  totpSecretSource,
];

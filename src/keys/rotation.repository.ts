/**
 * The SQL of key rotation: every column sealed under a master key, read in id order in
 * batches and written back only if nobody changed it in between (an optimistic check, so a
 * rotation can run while the server serves and never overwrites a concurrent write).
 */
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { SealedSecretVersion } from "../vaults/secret-crypto.js";

/** One `secret_versions` row with what its associated data names (vault, secret, version). */
export interface SecretVersionForRotation extends SealedSecretVersion {
  id: string;
  secret_id: string;
  vault_id: string;
  version: number;
}

/** A user's sealed TOTP secret (a packed envelope). */
export interface TotpSecretForRotation {
  id: string;
  totp_secret: Buffer;
}

export async function countSecretVersions(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom("secret_versions")
    .select((eb) => eb.fn.countAll<number | string>().as("count"))
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** How many versions each master key id wraps (the `key_id` of the value's data key). */
export async function countSecretVersionsByKeyId(
  db: Kysely<Database>,
): Promise<Array<{ keyId: string; count: number }>> {
  const rows = await db
    .selectFrom("secret_versions")
    .select(["key_id", (eb) => eb.fn.countAll<number | string>().as("count")])
    .groupBy("key_id")
    .execute();
  return rows.map((row) => ({ keyId: row.key_id, count: Number(row.count) }));
}

/** Up to `limit` versions with an id greater than `afterId` (null: from the start), by id. */
export async function listSecretVersionsAfter(
  db: Kysely<Database>,
  afterId: string | null,
  limit: number,
): Promise<SecretVersionForRotation[]> {
  let query = db
    .selectFrom("secret_versions")
    .innerJoin("secrets", "secrets.id", "secret_versions.secret_id")
    .select([
      "secret_versions.id",
      "secret_versions.secret_id",
      "secrets.vault_id",
      "secret_versions.version",
      "secret_versions.key_id",
      "secret_versions.wrapped_key",
      "secret_versions.nonce",
      "secret_versions.ciphertext",
      "secret_versions.note_ciphertext",
    ])
    .orderBy("secret_versions.id", "asc")
    .limit(limit);
  if (afterId !== null) query = query.where("secret_versions.id", ">", afterId);
  return query.execute();
}

/**
 * Writes `next` over version `id` only if its key id, wrapped key and note are still those
 * of `expected`. Every seal draws a fresh random data key, so an unchanged wrapped key means
 * nobody rewrapped, re-encrypted or replaced the row since it was read. False when the row
 * changed or is gone (shredded meanwhile): the other writer wins.
 */
export async function updateSecretVersionIfUnchanged(
  db: Kysely<Database>,
  id: string,
  expected: SealedSecretVersion,
  next: SealedSecretVersion,
): Promise<boolean> {
  let query = db
    .updateTable("secret_versions")
    .set({
      key_id: next.key_id,
      wrapped_key: next.wrapped_key,
      nonce: next.nonce,
      ciphertext: next.ciphertext,
      note_ciphertext: next.note_ciphertext,
    })
    .where("id", "=", id)
    .where("key_id", "=", expected.key_id)
    .where("wrapped_key", "=", expected.wrapped_key);
  query =
    expected.note_ciphertext === null
      ? query.where("note_ciphertext", "is", null)
      : query.where("note_ciphertext", "=", expected.note_ciphertext);
  const result = await query.executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function countTotpSecrets(db: Kysely<Database>): Promise<number> {
  const row = await db
    .selectFrom("users")
    .select((eb) => eb.fn.countAll<number | string>().as("count"))
    .where("totp_secret", "is not", null)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Up to `limit` users holding a TOTP secret (enrolled or enrolling) after `afterId`, by id. */
export async function listTotpSecretsAfter(
  db: Kysely<Database>,
  afterId: string | null,
  limit: number,
): Promise<TotpSecretForRotation[]> {
  let query = db
    .selectFrom("users")
    .select(["id", "totp_secret"])
    .where("totp_secret", "is not", null)
    .orderBy("id", "asc")
    .limit(limit);
  if (afterId !== null) query = query.where("id", ">", afterId);
  const rows = await query.execute();
  return rows.flatMap((row) =>
    row.totp_secret === null ? [] : [{ id: row.id, totp_secret: row.totp_secret }],
  );
}

/** Replaces a user's sealed TOTP secret unless it changed since it was read (re-enrolment). */
export async function updateTotpSecretIfUnchanged(
  db: Kysely<Database>,
  userId: string,
  expected: Buffer,
  next: Buffer,
): Promise<boolean> {
  const result = await db
    .updateTable("users")
    .set({ totp_secret: next })
    .where("id", "=", userId)
    .where("totp_secret", "=", expected)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

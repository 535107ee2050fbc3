import { randomBytes } from "node:crypto";
import { sealTotpSecret } from "../../src/accounts/totp-secrets.js";
import type { MasterKey } from "../../src/config/keys.js";
import type { Db } from "../../src/db/schema.js";
import { SecretBytes } from "../../src/lib/secret-bytes.js";
import type { SecretVersionIdentity } from "../../src/vaults/secret-crypto.js";
import { sealSecretVersion } from "../../src/vaults/secret-crypto.js";

/** A fresh random master key, and its `MASTER_KEY` entry text. */
export function newMasterKey(id: string): MasterKey & { entry: string } {
  const bytes = randomBytes(32);
  return { id, key: new SecretBytes(bytes), entry: `${id}:${bytes.toString("base64")}` };
}

/** A secret version as seeded: where it lives and the plaintext it must keep. */
export interface SeededVersion {
  id: string;
  identity: SecretVersionIdentity;
  value: Buffer;
  note: Buffer | null;
}

/**
 * Inserts `vaults` vaults × `secrets` secrets × `versions` versions straight into the tables,
 * sealed with `keyring` (its first key); every other version carries a note.
 */
export async function seedSecretVersions(
  db: Db,
  keyring: readonly MasterKey[],
  shape: { vaults: number; secrets: number; versions: number },
): Promise<SeededVersion[]> {
  const now = new Date().toISOString();
  const seeded: SeededVersion[] = [];
  for (let v = 0; v < shape.vaults; v++) {
    const vaultId = crypto.randomUUID();
    await db
      .insertInto("vaults")
      .values({
        id: vaultId,
        slug: `vault-${vaultId.slice(0, 8)}`,
        created_at: now,
        updated_at: now,
      })
      .execute();
    for (let s = 0; s < shape.secrets; s++) {
      const secretId = crypto.randomUUID();
      await db
        .insertInto("secrets")
        .values({
          id: secretId,
          vault_id: vaultId,
          name: `SECRET_${s}`,
          current_version: shape.versions,
          expires_at: null,
          created_by: null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      for (let version = 1; version <= shape.versions; version++) {
        const identity = { vaultId, secretId, version };
        const value = Buffer.from(`plaintext-${vaultId}-${s}-v${version}-${randomHex()}`);
        const note = version % 2 === 0 ? Buffer.from(`note-${randomHex()}`) : null;
        const id = crypto.randomUUID();
        await db
          .insertInto("secret_versions")
          .values({
            id,
            secret_id: secretId,
            version,
            ...sealSecretVersion(keyring, identity, value, note),
            created_by: null,
            created_at: now,
          })
          .execute();
        seeded.push({ id, identity, value, note });
      }
    }
  }
  return seeded;
}

/** Inserts a user with a TOTP secret sealed under `keyring`; returns the user id and secret. */
export async function seedTotpUser(
  db: Db,
  keyring: readonly MasterKey[],
  username: string,
): Promise<{ userId: string; secret: string }> {
  const userId = crypto.randomUUID();
  const secret = "JBSWY3DPEHPK3PXP";
  const now = new Date().toISOString();
  await db
    .insertInto("users")
    .values({
      id: userId,
      username,
      username_key: username.toLowerCase(),
      email: `${username}@example.test`,
      email_key: `${username.toLowerCase()}@example.test`,
      password_hash: "not-a-real-hash",
      role: "member",
      disabled_at: null,
      totp_secret: sealTotpSecret(keyring, userId, secret),
      totp_enabled_at: now,
      totp_last_step: null,
      locked_until: null,
      last_login_at: null,
      last_login_address: null,
      created_at: now,
      updated_at: now,
    })
    .execute();
  return { userId, secret };
}

/** Every stored version row, by id. */
export async function readVersions(db: Db) {
  return db.selectFrom("secret_versions").selectAll().orderBy("id").execute();
}

function randomHex(): string {
  return randomBytes(6).toString("hex");
}

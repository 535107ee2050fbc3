/**
 * Seeding for the benchmarks, through the data layer rather than the HTTP API (a million
 * secrets through the API would take longer than the benchmark): accounts, vaults and a
 * token through the services the routes use, bulk secrets as rows sealed exactly as
 * `putSecret` seals them (envelope encryption with the version's identity as associated
 * data), so the server reveals them like any other. Bulk rows are one version each and have
 * no audit events of their own.
 */
import type { Insertable, Kysely } from "kysely";
import { createUser } from "../src/accounts/registration.service.js";
import type { Config } from "../src/config/config.js";
import type { MasterKey } from "../src/config/keys.js";
import { openDatabase } from "../src/db/database.js";
import { migrateToLatest } from "../src/db/migrate.js";
import type { Database, Db, SecretsTable, SecretVersionsTable } from "../src/db/schema.js";
import type { DatabaseTarget } from "../src/db/url.js";
import type { Principal } from "../src/http/authentication.js";
import { randomId } from "../src/lib/random.js";
import { createApiToken } from "../src/tokens/tokens.service.js";
import { sealSecretVersion } from "../src/vaults/secret-crypto.js";
import { createVault } from "../src/vaults/vaults.service.js";

/** The password of every benchmark account (the policy must accept it). */
export const BENCH_PASSWORD = "violet-lantern-orbit-29-quartz";
/** Rows per insert statement and per transaction when seeding in bulk. */
export const SEED_BATCH = 1000;

export interface BenchAccount {
  principal: Principal;
  /** A bearer token with write scope on every vault in `vaults`. */
  token: string;
}

/** Opens and migrates the benchmark database. */
export async function openBenchDatabase(target: DatabaseTarget) {
  const handle = await openDatabase(target);
  await migrateToLatest(handle.db);
  return handle;
}

/**
 * Creates `username` (a member) owning one vault per slug, and an API token with write scope
 * on all of them.
 */
export async function seedAccount(
  db: Db,
  config: Config,
  username: string,
  vaults: readonly string[],
): Promise<BenchAccount> {
  const now = () => new Date();
  const user = await createUser(
    db,
    { config, now },
    { username, email: `${username}@example.test`, password: BENCH_PASSWORD, role: "member" },
    { id: null, name: "bench", address: null },
  );
  const principal: Principal = {
    kind: "session",
    userId: user.id,
    username: user.username,
    role: user.role,
    sessionId: null,
    tokenId: null,
    scopes: null,
  };
  for (const slug of vaults) {
    await createVault(db, { actor: principal, address: "127.0.0.1", now: now() }, { slug });
  }
  const { token } = await createApiToken(db, {
    userId: user.id,
    username: user.username,
    now: now(),
    address: null,
    name: "bench",
    scopes: vaults.map((vault) => ({ vault, permission: "write" as const })),
    expiresInDays: 30,
  });
  return { principal, token };
}

/** Creates more accounts that can sign in with {@link BENCH_PASSWORD} (the login flood's). */
export async function seedUsers(db: Db, config: Config, usernames: readonly string[]) {
  for (const username of usernames) {
    await createUser(
      db,
      { config, now: () => new Date() },
      { username, email: `${username}@example.test`, password: BENCH_PASSWORD, role: "member" },
      { id: null, name: "bench", address: null },
    );
  }
}

/** The name of bulk secret number `n`: sorts in number order. */
export function bulkSecretName(n: number): string {
  return `SECRET_${String(n).padStart(8, "0")}`;
}

/** The id of a vault by slug. */
export async function vaultIdOf(db: Kysely<Database>, slug: string): Promise<string> {
  const row = await db
    .selectFrom("vaults")
    .select("id")
    .where("slug", "=", slug)
    .executeTakeFirstOrThrow();
  return row.id;
}

/**
 * Adds secrets numbered `from` (inclusive) to `to` (exclusive) to a vault, each with one
 * version of a 40-byte value sealed under `keyring`'s current key, {@link SEED_BATCH} per
 * transaction. `onProgress` is told the count done after each batch.
 */
export async function seedSecrets(
  db: Kysely<Database>,
  keyring: readonly MasterKey[],
  vaultId: string,
  range: { from: number; to: number },
  onProgress?: (done: number) => void,
): Promise<void> {
  const createdAt = new Date().toISOString();
  for (let start = range.from; start < range.to; start += SEED_BATCH) {
    const end = Math.min(range.to, start + SEED_BATCH);
    const secrets: Insertable<SecretsTable>[] = [];
    const versions: Insertable<SecretVersionsTable>[] = [];
    for (let n = start; n < end; n++) {
      const secretId = randomId();
      const value = Buffer.from(`value-of-${bulkSecretName(n)}-${randomId()}`.slice(0, 40));
      const sealed = sealSecretVersion(keyring, { vaultId, secretId, version: 1 }, value, null);
      secrets.push({
        id: secretId,
        vault_id: vaultId,
        name: bulkSecretName(n),
        type: "generic",
        current_version: 1,
        expires_at: null,
        created_by: null,
        created_at: createdAt,
        updated_at: createdAt,
      });
      versions.push({
        id: randomId(),
        secret_id: secretId,
        version: 1,
        ...sealed,
        created_by: null,
        created_at: createdAt,
      });
    }
    await db.transaction().execute(async (trx) => {
      await trx.insertInto("secrets").values(secrets).execute();
      await trx.insertInto("secret_versions").values(versions).execute();
    });
    onProgress?.(end - range.from);
  }
}

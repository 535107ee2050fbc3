import { recordAuditEvent } from "../audit/audit.service.js";
import type { MasterKey } from "../config/keys.js";
import { DecryptionError } from "../crypto/envelope.js";
import { macToken, verifyMacToken } from "../crypto/tokens.js";
import { dialectOf } from "../db/dialect.js";
import type { Db } from "../db/schema.js";
import { withTransactionRetry } from "../db/transaction-retry.js";
import { AppError, badRequest, conflict, notFound, validationError } from "../lib/errors.js";
import { randomId } from "../lib/random.js";
import type { SecretBytes } from "../lib/secret-bytes.js";
import type { VaultAccess } from "./access.js";
import { grantVaultAccess } from "./access.js";
import type { VersionPrecondition } from "./preconditions.js";
import { checkPrecondition } from "./preconditions.js";
import { openSecretVersion, sealSecretVersion } from "./secret-crypto.js";
import type { SecretType, SecretValue } from "./secret-types.js";
import { decodeSecretValue, encodeSecretValue, validateSecretValue } from "./secret-types.js";
import type { SecretRow, SecretVersionRow } from "./secrets.repository.js";
import {
  deleteSecretRow,
  deleteVersionsUpTo,
  findSecret,
  findSecretForUpdate,
  findSecretWithVersion,
  findVaultSecretVersion,
  insertSecret,
  insertVersion,
  listSecretsPage,
  listVersions,
  recordShredded,
  setCurrentVersion,
  setSecretExpiry,
} from "./secrets.repository.js";
import type { VaultRow } from "./vaults.repository.js";
import { SECRET_VERSIONS_KEPT } from "./vaults.schema.js";
import type { Acting } from "./vaults.service.js";
import { auditAction } from "./vaults.service.js";

/** What the secret services need besides the database. */
export interface SecretKeys {
  keyring: readonly MasterKey[];
  /** Signs pagination cursors so they cannot be forged or moved to another vault. */
  secretKey: SecretBytes;
}

/** An opaque, signed cursor naming the last secret of a page in one vault. */
export function encodeCursor(secretKey: SecretBytes, vaultId: string, afterName: string): string {
  const payload = Buffer.from(JSON.stringify({ v: vaultId, a: afterName }), "utf8").toString(
    "base64url",
  );
  return `${payload}.${macToken(secretKey, "cursor", payload)}`;
}

/** The name a cursor continues after; 400 when it is forged, malformed or from another vault. */
export function decodeCursor(secretKey: SecretBytes, vaultId: string, cursor: string): string {
  const invalid = (): AppError => badRequest("The cursor is invalid.");
  const [payload, mac, extra] = cursor.split(".");
  if (payload === undefined || mac === undefined || extra !== undefined) throw invalid();
  if (!verifyMacToken(secretKey, "cursor", payload, mac)) throw invalid();
  const parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as {
    v?: unknown;
    a?: unknown;
  };
  if (parsed.v !== vaultId || typeof parsed.a !== "string") throw invalid();
  return parsed.a;
}

const MS_PER_DAY = 86_400_000;

/** True when a secret with this `expires_at` may no longer be revealed at `now`. */
export function isExpired(expiresAt: string | null, now: Date): boolean {
  return expiresAt !== null && Date.parse(expiresAt) <= now.getTime();
}

/** 400 unless `expiresAt` (ISO-8601) lies after `now`: an expiry in the past is a mistake. */
function assertFutureExpiry(expiresAt: string, now: Date, path: string): void {
  if (Date.parse(expiresAt) <= now.getTime())
    throw validationError([{ path, message: "must be in the future" }]);
}

/**
 * One page of a vault's secrets: names and metadata, never values. With `expiring`, only
 * those that expire within `withinDays` days of `now`, the expired ones included.
 */
export async function listSecrets(
  db: Db,
  keys: SecretKeys,
  access: VaultAccess,
  limit: number,
  cursor: string | undefined,
  search: string | null = null,
  expiring: { withinDays: number; now: Date } | null = null,
): Promise<{ secrets: SecretRow[]; nextCursor: string | null }> {
  const after = cursor === undefined ? null : decodeCursor(keys.secretKey, access.vault.id, cursor);
  const expiringBefore =
    expiring === null
      ? null
      : new Date(expiring.now.getTime() + expiring.withinDays * MS_PER_DAY).toISOString();
  const rows = await listSecretsPage(db, access.vault.id, after, limit + 1, search, expiringBefore);
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    secrets: page,
    nextCursor:
      rows.length > limit && last !== undefined
        ? encodeCursor(keys.secretKey, access.vault.id, last.name)
        : null,
  };
}

/**
 * Writes a new version of a secret (creating it at version 1). Versions are numbered under a
 * lock on the secret row, so concurrent writers never lose a version or reuse a number; two
 * writers creating the same new name are resolved by the unique constraint and a retry.
 * Versions beyond the newest 20 are shredded in the same transaction. A deadlock with an
 * import or a key rotation (PostgreSQL) runs the transaction again (`withTransactionRetry`).
 */
export async function putSecret(
  db: Db,
  keys: SecretKeys,
  acting: Acting,
  access: VaultAccess,
  input: SecretWrite,
): Promise<{ secret: SecretRow; created: boolean }> {
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await withTransactionRetry(db, (trx) =>
        writeVersion(trx, keys.keyring, writerOf(acting), access.vault, input),
      );
      if (result.trimmed > 0) await dialectOf(db).scrubDeletedData(db);
      return result;
    } catch (error) {
      // Another writer created the same name first: go again, as a new version of it.
      if (attempt < 3 && dialectOf(db).isUniqueViolation(error)) continue;
      throw error;
    }
  }
}

/** What one write stores: a new version of `name`. */
export interface SecretWrite {
  name: string;
  /** A string, or an object for `credential` and `card`; checked against the type. */
  value: string | Record<string, unknown>;
  /** The secret's type; absent, it keeps its type (`generic` for a new secret). */
  type?: SecretType | undefined;
  note?: string | undefined;
  /** What the secret must look like before the write (If-Match); 412 and nothing written otherwise. */
  precondition?: VersionPrecondition | null | undefined;
  /**
   * When the secret expires (ISO-8601, in the future; 400 otherwise), null for never;
   * undefined keeps the secret's expiry — refused (409) when it has passed, so that a new
   * value never lands already expired: rotating an expired secret takes a new expiry.
   */
  expiresAt?: string | null | undefined;
  /** A restore: the exact plaintext of an older version, already validated when written. */
  restored?: { type: SecretType; plaintext: Buffer } | undefined;
}

/** Who writes a version: recorded in `created_by` and as the audit event's actor. */
interface SecretWriter {
  /** Null for the operator's CLI, which acts without a user account. */
  userId: string | null;
  username: string;
  address: string | null;
  now: Date;
}

function writerOf(acting: Acting): SecretWriter {
  return {
    userId: acting.actor.userId,
    username: acting.actor.username,
    address: acting.address,
    now: acting.now,
  };
}

async function writeVersion(
  trx: Db,
  keyring: readonly MasterKey[],
  writer: SecretWriter,
  vault: VaultRow,
  input: SecretWrite,
  audit: { action: string; details: Record<string, string | number> } = {
    action: "secret.write",
    details: {},
  },
): Promise<{ secret: SecretRow; created: boolean; trimmed: number }> {
  const now = writer.now.toISOString();
  const existing = await findSecretForUpdate(trx, vault.id, input.name);
  // Under the row lock: no other writer can change the version between check and write.
  checkPrecondition(input.precondition, existing?.current_version ?? null);
  if (input.expiresAt !== undefined && input.expiresAt !== null)
    assertFutureExpiry(input.expiresAt, writer.now, "body.expiresAt");
  if (
    input.expiresAt === undefined &&
    existing !== null &&
    isExpired(existing.expires_at, writer.now)
  )
    throw conflict(
      `${vault.slug}/${input.name} expired at ${existing.expires_at}: write it with a new expiresAt (or null for none), or have an owner extend it first.`,
    );
  const secret: SecretRow = existing ?? {
    id: randomId(),
    vault_id: vault.id,
    name: input.name,
    type: "generic",
    current_version: 0,
    expires_at: null,
    created_by: writer.userId,
    created_at: now,
    updated_at: now,
  };
  const type: SecretType =
    input.restored?.type ?? input.type ?? (existing?.type as SecretType | undefined) ?? "generic";
  const plaintext =
    input.restored?.plaintext ??
    encodeSecretValue(type, validateSecretValue(type, input.value, writer.now));
  if (existing === null) await insertSecret(trx, secret);
  const version = secret.current_version + 1;
  let sealed: ReturnType<typeof sealSecretVersion>;
  try {
    sealed = sealSecretVersion(
      keyring,
      { vaultId: vault.id, secretId: secret.id, version },
      plaintext,
      input.note === undefined ? null : Buffer.from(input.note, "utf8"),
    );
  } finally {
    if (input.restored === undefined) plaintext.fill(0);
  }
  await insertVersion(trx, {
    id: randomId(),
    secret_id: secret.id,
    version,
    ...sealed,
    created_by: writer.username,
    created_at: now,
  });
  await setCurrentVersion(trx, secret.id, version, now, input.expiresAt, type);
  const trimmed =
    version > SECRET_VERSIONS_KEPT
      ? await deleteVersionsUpTo(trx, secret.id, version - SECRET_VERSIONS_KEPT)
      : 0;
  await recordWrite(trx, writer, audit.action, `${vault.slug}/${input.name}`, {
    ...audit.details,
    version,
    ...(input.expiresAt === undefined ? {} : { expiresAt: input.expiresAt ?? "never" }),
  });
  return {
    secret: {
      ...secret,
      type,
      current_version: version,
      updated_at: now,
      expires_at: input.expiresAt === undefined ? secret.expires_at : input.expiresAt,
    },
    created: existing === null,
    trimmed,
  };
}

function recordWrite(
  trx: Db,
  writer: SecretWriter,
  action: string,
  target: string,
  details: Record<string, string | number>,
): Promise<void> {
  return recordAuditEvent(
    trx,
    {
      actorId: writer.userId,
      actorName: writer.username,
      action,
      target,
      address: writer.address,
      outcome: "success",
      details,
    },
    writer.now,
  );
}

/** The operator at the server's shell (`strongroom import`): no user account. */
export interface Operator {
  /** Recorded as the audit actor's name and in `created_by`, e.g. `cli`. */
  name: string;
  address: string | null;
}

/** How many of `names` would be created in `vault` and how many updated (a dry run). */
export async function previewSecretImport(
  db: Db,
  vault: VaultRow,
  names: readonly string[],
): Promise<{ created: number; updated: number }> {
  let updated = 0;
  for (const name of names) if ((await findSecret(db, vault.id, name)) !== null) updated += 1;
  return { created: names.length - updated, updated };
}

/**
 * Imports secrets into `vault` in ONE transaction: all of them or, on any error, none. Each
 * becomes a new version (an existing name keeps its history) with its own `secret.write`
 * audit event, and one `secret.import` event records the counts and `source`. Like
 * putSecret, a name created meanwhile by another writer makes the whole import run again, and
 * so does a deadlock: the import holds the audit chain's lock from its first secret on while
 * it locks the next ones, the order a single write takes them in reversed.
 * `onProgress(done, total)` is called after each secret is written (not yet committed), so
 * after a rerun it counts from 1 again.
 * @throws whatever the database throws; nothing is written then.
 */
export async function importSecrets(
  db: Db,
  keyring: readonly MasterKey[],
  operator: Operator,
  vault: VaultRow,
  entries: ReadonlyArray<{ name: string; value: string }>,
  options: { now: Date; source: string; onProgress?: (done: number, total: number) => void },
): Promise<{ created: number; updated: number }> {
  const writer: SecretWriter = {
    userId: null,
    username: operator.name,
    address: operator.address,
    now: options.now,
  };
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await withTransactionRetry(db, async (trx) => {
        const counts = { created: 0, updated: 0, trimmed: 0 };
        for (const [index, entry] of entries.entries()) {
          // Imported values are plain strings: the secret becomes (or stays) generic.
          const written = await writeVersion(trx, keyring, writer, vault, {
            ...entry,
            type: "generic",
          });
          counts[written.created ? "created" : "updated"] += 1;
          counts.trimmed += written.trimmed;
          options.onProgress?.(index + 1, entries.length);
        }
        await recordWrite(trx, writer, "secret.import", vault.slug, {
          source: options.source,
          created: counts.created,
          updated: counts.updated,
        });
        return counts;
      });
      if (result.trimmed > 0) await dialectOf(db).scrubDeletedData(db);
      return { created: result.created, updated: result.updated };
    } catch (error) {
      if (attempt < 3 && dialectOf(db).isUniqueViolation(error)) continue;
      throw error;
    }
  }
}

/** The stored value failed its integrity check (tampered, moved, or an unknown key id). */
function integrityError(cause: unknown): AppError {
  return new AppError("integrity-error", 422, "Integrity check failed", {
    detail:
      "The stored value failed its integrity check and cannot be shown. The event is in the server log.",
    cause,
  });
}

export async function findSecretOrThrow(
  db: Db,
  access: VaultAccess,
  name: string,
): Promise<SecretRow> {
  const secret = await findSecret(db, access.vault.id, name);
  if (secret === null) throw notFound("There is no such secret.");
  return secret;
}

/** A revealed version, its value and note decrypted. */
export interface RevealedSecret {
  secret: SecretRow;
  version: number;
  /** The version's own type (a secret's type can change between versions). */
  type: SecretType;
  value: SecretValue;
  note: string | null;
  createdAt: string;
}

/**
 * Reveals one version (the current one by default): decrypts it and records the reveal in
 * the audit log. A value that fails authentication is an `integrity-error`, never a 500.
 */
export async function revealSecret(
  db: Db,
  keys: SecretKeys,
  acting: Acting,
  access: VaultAccess,
  name: string,
  versionNumber?: number,
): Promise<RevealedSecret> {
  const found = await findSecretWithVersion(db, access.vault.id, name, versionNumber);
  if (found === null) throw notFound("There is no such secret.");
  await refuseExpired(db, acting, access, name, found.secret, found.version, versionNumber);
  return openAndRecord(db, keys, acting, access, name, found.secret, found.version, versionNumber);
}

/**
 * {@link revealSecret} for a vault named by slug, asking the policy for `secret.reveal` on
 * the way: the vault, the caller's role, the secret and the version are read in one query
 * (the reveal routes' hot path). Answers exactly as authorizeVault then revealSecret would.
 */
export async function revealSecretInVault(
  db: Db,
  keys: SecretKeys,
  acting: Acting,
  slug: string,
  name: string,
  versionNumber?: number,
): Promise<RevealedSecret> {
  const found = await findVaultSecretVersion(db, slug, acting.actor.userId, name, versionNumber);
  const access = grantVaultAccess(acting.actor, "secret.reveal", found);
  if (found === null || found.secret === null) throw notFound("There is no such secret.");
  await refuseExpired(db, acting, access, name, found.secret, found.version, versionNumber);
  return openAndRecord(db, keys, acting, access, name, found.secret, found.version, versionNumber);
}

/**
 * After its `expires_at` a secret's values (every version) are not handed out: the refusal
 * is audited (`outcome: "denied"`, committed before the answer) and answered 410
 * `secret-expired`. A missing version is left to openAndRecord's 404.
 */
async function refuseExpired(
  db: Db,
  acting: Acting,
  access: VaultAccess,
  name: string,
  secret: SecretRow,
  row: SecretVersionRow | null,
  versionNumber: number | undefined,
): Promise<void> {
  if (row === null || !isExpired(secret.expires_at, acting.now)) return;
  const target = `${access.vault.slug}/${name}`;
  await recordAuditEvent(
    db,
    {
      actorId: acting.actor.userId,
      actorName: acting.actor.username,
      action: versionNumber === undefined ? "secret.reveal" : "secret.reveal-version",
      target,
      address: acting.address,
      outcome: "denied",
      details: { version: row.version, reason: "expired", expiresAt: secret.expires_at },
    },
    acting.now,
  );
  throw new AppError("secret-expired", 410, "Secret expired", {
    detail: `${target} expired at ${secret.expires_at}; its value is no longer revealed. A vault owner can extend or delete it.`,
  });
}

async function openAndRecord(
  db: Db,
  keys: SecretKeys,
  acting: Acting,
  access: VaultAccess,
  name: string,
  secret: SecretRow,
  row: SecretVersionRow | null,
  versionNumber: number | undefined,
): Promise<RevealedSecret> {
  if (row === null) throw notFound("There is no such version.");
  const version = row.version;
  let opened: { value: Buffer; note: Buffer | null };
  try {
    opened = openSecretVersion(
      keys.keyring,
      { vaultId: access.vault.id, secretId: secret.id, version },
      row,
    );
  } catch (error) {
    if (error instanceof DecryptionError) throw integrityError(error);
    throw error;
  }
  try {
    // The event is committed before the value is handed back; if it cannot be, nothing is.
    await auditAction(
      db,
      acting,
      versionNumber === undefined ? "secret.reveal" : "secret.reveal-version",
      `${access.vault.slug}/${name}`,
      { version },
    );
    const decoded = decodeSecretValue(opened.value);
    return {
      secret,
      version,
      type: decoded.type,
      value: decoded.value,
      note: opened.note?.toString("utf8") ?? null,
      createdAt: row.created_at,
    };
  } finally {
    opened.value.fill(0);
    opened.note?.fill(0);
  }
}

export async function listSecretVersions(
  db: Db,
  access: VaultAccess,
  name: string,
): Promise<Array<{ version: number; created_at: string; created_by: string | null }>> {
  const secret = await findSecretOrThrow(db, access, name);
  return listVersions(db, secret.id);
}

/**
 * Deletes a secret and shreds every version (rows, wrapped keys; ledger; scrub). Runs again
 * after a deadlock with a key rotation batch rewriting the same versions in another order.
 */
export async function deleteSecret(
  db: Db,
  acting: Acting,
  access: VaultAccess,
  name: string,
): Promise<void> {
  await withTransactionRetry(db, async (trx) => {
    const secret = await findSecret(trx, access.vault.id, name);
    if (secret === null) throw notFound("There is no such secret.");
    await deleteSecretRow(trx, secret.id);
    await recordShredded(trx, [secret.id], access.vault.id, acting.now.toISOString());
    await auditAction(trx, acting, "secret.delete", `${access.vault.slug}/${name}`);
  });
  await dialectOf(db).scrubDeletedData(db);
}

/**
 * Sets when a secret expires (`expiresAt` ISO-8601 in the future, 400 otherwise; null:
 * never), keeping its value and version: how owners extend an expired secret. Audited as
 * `secret.expiry`. The caller checks the `secret.expiry` permission (owners). With
 * `precondition` (If-Match), checked under the row lock against the current version.
 * @throws 404 for no such secret, 412 when `precondition` fails.
 */
export async function setExpiry(
  db: Db,
  acting: Acting,
  access: VaultAccess,
  name: string,
  expiresAt: string | null,
  precondition: VersionPrecondition | null = null,
): Promise<SecretRow> {
  if (expiresAt !== null) assertFutureExpiry(expiresAt, acting.now, "body.expiresAt");
  return withTransactionRetry(db, async (trx) => {
    const secret = await findSecretForUpdate(trx, access.vault.id, name);
    if (secret === null) throw notFound("There is no such secret.");
    // An owner extending what they last saw: a value written since makes that decision stale.
    checkPrecondition(precondition, secret.current_version);
    await setSecretExpiry(trx, secret.id, expiresAt);
    await auditAction(trx, acting, "secret.expiry", `${access.vault.slug}/${name}`, {
      expiresAt: expiresAt ?? "never",
      previously: secret.expires_at ?? "never",
    });
    return { ...secret, expires_at: expiresAt };
  });
}

/**
 * Rollback: writes a new version holding version `n`'s value and note, in one transaction
 * under the secret's row lock (so `precondition`, the caller's If-Match, is checked against
 * the version actually replaced). Audited as one `secret.restore` event `{from, version}`;
 * the old value is decrypted on the server and never returned, so it is not a reveal.
 * @throws 404 for no such secret or version, 412 when `precondition` fails, 422
 *   `integrity-error` when version `n` fails authentication.
 */
export async function restoreVersion(
  db: Db,
  keys: SecretKeys,
  acting: Acting,
  access: VaultAccess,
  name: string,
  n: number,
  precondition: VersionPrecondition | null = null,
): Promise<{ secret: SecretRow }> {
  const result = await withTransactionRetry(db, async (trx) => {
    const secret = await findSecretForUpdate(trx, access.vault.id, name);
    if (secret === null) throw notFound("There is no such secret.");
    checkPrecondition(precondition, secret.current_version);
    const found = await findSecretWithVersion(trx, access.vault.id, name, n);
    if (found?.version == null) throw notFound("There is no such version.");
    let opened: { value: Buffer; note: Buffer | null };
    try {
      opened = openSecretVersion(
        keys.keyring,
        { vaultId: access.vault.id, secretId: secret.id, version: n },
        found.version,
      );
    } catch (error) {
      if (error instanceof DecryptionError) throw integrityError(error);
      throw error;
    }
    try {
      return await writeVersion(
        trx,
        keys.keyring,
        writerOf(acting),
        access.vault,
        {
          name,
          value: "",
          note: opened.note?.toString("utf8"),
          restored: { type: decodeSecretValue(opened.value).type, plaintext: opened.value },
        },
        { action: "secret.restore", details: { from: n } },
      );
    } finally {
      opened.value.fill(0);
      opened.note?.fill(0);
    }
  });
  if (result.trimmed > 0) await dialectOf(db).scrubDeletedData(db);
  return { secret: result.secret };
}

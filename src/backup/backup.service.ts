/**
 * `strongroom backup` and `strongroom restore`: a logical, transaction-consistent copy of
 * every table (except live sign-in state), encrypted as described in backup-format.ts.
 *
 * The body is JSON lines, in {@link BACKUP_TABLES} order:
 *   {"counts": {"users": 3, …}}
 *   {"t": "users", "r": {…row…}}          binary columns as {"$b64": "…"}
 *   …
 *   {"end": true}
 *
 * Logical rather than the engines' own formats, so that one file restores into either
 * engine (a way from SQLite to PostgreSQL) and a restore can leave out what the shred ledger
 * says was destroyed since the backup was taken.
 */
import { randomBytes } from "node:crypto";
import { access, open, rename, rm } from "node:fs/promises";
import { findLastAuditHash } from "../audit/audit.repository.js";
import type { AuditChainVerdict } from "../audit/index.js";
import { recordAuditEvent, verifyAuditChain } from "../audit/index.js";
import type { MasterKey } from "../config/keys.js";
import { unpackEnvelope } from "../crypto/envelope.js";
import { dialectOf } from "../db/dialect.js";
import { appliedMigrations, knownMigrations, migrateToLatest, migrateUpTo } from "../db/migrate.js";
import type { Db } from "../db/schema.js";
import type { BackupTable, TableRow } from "./backup.repository.js";
import {
  BACKUP_TABLES,
  countRows,
  deleteAllRows,
  inSnapshot,
  insertRows,
  readRowsAfter,
  readShredLedger,
  syncIdentities,
  TABLES_ADDED_LATER,
  TABLES_NO_LONGER_BACKED_UP,
  TRANSIENT_TABLES,
  tableColumns,
} from "./backup.repository.js";
import type { BackupFile, BackupHeader, BackupSecret } from "./backup-format.js";
import {
  BackupError,
  createBackupEncryptor,
  decryptBackupBody,
  deriveBackupKey,
  encodeBackupPreamble,
  newBackupHeader,
  openBackupFile,
} from "./backup-format.js";

/** Rows read, or inserted, per statement. */
const BATCH_ROWS = 500;
/** Plaintext gathered before it is encrypted and written. */
const WRITE_CHUNK_BYTES = 1024 * 1024;
/** Longest JSON line a restore accepts: a row holds at most a few hundred KiB. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;

/** Who runs a backup or restore, for the audit trail. */
export interface BackupActor {
  id: string | null;
  name: string;
}

export interface BackupOptions {
  secret: BackupSecret;
  actor: BackupActor;
  now: () => Date;
  /** Replace an existing file at the path. */
  overwrite?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** What a backup wrote. */
export interface BackupResult {
  header: BackupHeader;
  rows: number;
  counts: Record<string, number>;
}

/**
 * Writes an encrypted, consistent backup of `db` to `path`: into a new 0600 file beside it
 * that is renamed over `path` only when complete and flushed to disk, so a failed or
 * interrupted backup never leaves a partial file under the real name. Audited before the
 * rename: when the event cannot be written, no backup is left (the error is thrown).
 * @throws BackupError when `path` exists (without `overwrite`) or the secret is unusable.
 */
export async function createBackup(
  db: Db,
  path: string,
  options: BackupOptions,
): Promise<BackupResult> {
  if (options.overwrite !== true && (await exists(path))) {
    throw new BackupError(`${path} already exists (use --force to replace it)`);
  }
  const header = newBackupHeader(options.secret, {
    engine: dialectOf(db).name,
    migrations: await appliedMigrations(db),
    now: options.now(),
  });
  if (header.migrations.length === 0) throw new BackupError("the database has no schema yet");
  const key = await deriveBackupKey(header, options.secret);
  const encryptor = createBackupEncryptor(header, key);
  key.fill(0);

  const partial = `${path}.partial-${randomBytes(6).toString("hex")}`;
  const file = await open(partial, "wx", 0o600);
  let result: BackupResult;
  try {
    await file.write(encodeBackupPreamble(header));
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      await file.write(encryptor.update(Buffer.concat(pending)));
      pending = [];
      pendingBytes = 0;
    };
    const emit = async (value: unknown): Promise<void> => {
      const line = Buffer.from(`${JSON.stringify(value, encodeBinary)}\n`, "utf8");
      pending.push(line);
      pendingBytes += line.length;
      if (pendingBytes >= WRITE_CHUNK_BYTES) await flush();
    };

    result = await inSnapshot(db, async (trx) => {
      const counts: Record<string, number> = {};
      for (const table of BACKUP_TABLES) counts[table.name] = await countRows(trx, table.name);
      const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
      await emit({ counts });
      let done = 0;
      for (const table of BACKUP_TABLES) {
        let after: TableRow | null = null;
        for (;;) {
          const rows = await readRowsAfter(trx, table, after, BATCH_ROWS);
          for (const row of rows) await emit({ t: table.name, r: row });
          done += rows.length;
          options.onProgress?.(done, total);
          const last = rows.at(-1);
          if (last === undefined || rows.length < BATCH_ROWS) break;
          after = last;
        }
      }
      await emit({ end: true });
      return { header, rows: done, counts };
    });
    await flush();
    await file.write(encryptor.final());
    await file.sync();
    await file.close();
    // Fail closed: a backup holds every secret, so it exists under its name only once its
    // event is in the audit log. If the event cannot be written, the file is removed.
    await recordAuditEvent(
      db,
      {
        actorId: options.actor.id,
        actorName: options.actor.name,
        action: "backup.create",
        target: null,
        address: null,
        outcome: "success",
        details: { rows: result.rows, encryption: header.key.kind },
      },
      options.now(),
    );
    await rename(partial, path);
  } catch (error) {
    await file.close().catch(() => {});
    await rm(partial, { force: true });
    throw error;
  }
  return result;
}

/** JSON.stringify replacer: Buffers (binary columns) as `{"$b64": …}`. */
function encodeBinary(this: unknown, key: string, value: unknown): unknown {
  const raw = (this as Record<string, unknown>)[key];
  return Buffer.isBuffer(raw) ? { $b64: raw.toString("base64") } : value;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** What a backup holds, as learnt by reading it through once and checking its tag. */
export interface BackupContents {
  header: BackupHeader;
  counts: Record<string, number>;
  /** Ids of master keys that wrap data keys in the backup (secrets, TOTP secrets). */
  keyIds: string[];
  /** The backup's own shred ledger. */
  shredded: Set<string>;
}

/**
 * Reads the whole backup, checks its structure and its tag, and says what it holds.
 * Touches no database.
 * @throws BackupError when the file is unusable for any reason.
 */
export async function inspectBackup(
  path: string,
  secret: BackupSecret,
  onProgress?: (done: number, total: number) => void,
): Promise<BackupContents & { file: BackupFile; key: Buffer }> {
  const file = await openBackupFile(path);
  const key = await deriveBackupKey(file.header, secret);
  const keyIds = new Set<string>();
  const shredded = new Set<string>();
  const reader = createBodyReader((table, row) => {
    if (table.name === "secret_versions" && typeof row.key_id === "string") keyIds.add(row.key_id);
    if (table.name === "users" && Buffer.isBuffer(row.totp_secret)) {
      try {
        keyIds.add(unpackEnvelope(row.totp_secret).keyId);
      } catch {
        throw new BackupError(
          "the backup's contents are damaged: a two-factor secret is malformed",
        );
      }
    }
    if (table.name === "shredded_secrets" && typeof row.secret_id === "string") {
      shredded.add(row.secret_id);
    }
  });
  await decryptBackupBody(file, key, (chunk) => {
    reader.push(chunk);
    const { done, total } = reader.progress();
    onProgress?.(done, total);
  });
  const counts = reader.finish();
  return { file, key, header: file.header, counts, keyIds: [...keyIds].sort(), shredded };
}

export interface RestoreOptions {
  secret: BackupSecret;
  keyring: readonly MasterKey[];
  actor: BackupActor;
  now: () => Date;
  /** Replace the contents of a database that is not empty. */
  force?: boolean;
  onProgress?: (phase: "check" | "restore", done: number, total: number) => void;
}

export interface RestoreResult {
  header: BackupHeader;
  rows: number;
  /** Secrets in the backup that the shred ledger says were destroyed since: not restored. */
  dropped: number;
  /** One-time share links an older backup carried: never restored (TRANSIENT_TABLES). */
  sharesLeftOut: number;
  /**
   * The audit log the restore replaced: how many events it held and the hash of its newest
   * (null when it was empty). Both are also in the `backup.restore` event, so the new chain
   * records what it replaced and an anchored hash can still be compared.
   */
  replacedAudit: { events: number; head: string | null };
  audit: AuditChainVerdict;
}

/**
 * Restores the backup at `path` into `db`. Before anything is touched the whole file is
 * read and its tag checked, the schema and master keys it needs are checked, and a database
 * that is not empty is refused unless `force`. Then, in one transaction, the database is
 * emptied and refilled; the tag is checked again at the end and the transaction rolls back
 * if it fails (the file changed in between). Secrets in the shred ledger, the database's
 * own or the backup's, are left out, so what was destroyed after the backup stays destroyed.
 * @throws BackupError for every refusal; nothing has changed when it is thrown.
 */
export async function restoreBackup(
  db: Db,
  path: string,
  options: RestoreOptions,
): Promise<RestoreResult> {
  const contents = await inspectBackup(path, options.secret, (done, total) =>
    options.onProgress?.("check", done, total),
  );
  const { header, file, key } = contents;
  try {
    const missingKeys = contents.keyIds.filter(
      (id) => !options.keyring.some((entry) => entry.id === id),
    );
    if (missingKeys.length > 0) {
      throw new BackupError(
        `the backup's data keys are wrapped by master key(s) ${missingKeys.map((id) => `"${id}"`).join(", ")}, ` +
          "not in MASTER_KEY: add them (after the current key) and run again",
      );
    }
    // A database without a schema yet is empty; one with a schema is checked before the
    // schema is touched, so that a refusal changes nothing at all.
    if ((await appliedMigrations(db)).length > 0) {
      const present = await describeContents(db);
      if (present !== null && options.force !== true) {
        throw new BackupError(
          `the database is not empty (${present}); restoring replaces everything in it: use --force`,
        );
      }
    }
    await prepareSchema(db, header.migrations);

    const columns = await tableColumns(db);
    const ledger = await readShredLedger(db);
    const drop = new Set([...contents.shredded, ...ledger.map((row) => row.secret_id)]);
    const total = BACKUP_TABLES.reduce((sum, table) => sum + (contents.counts[table.name] ?? 0), 0);
    const sharesLeftOut = contents.counts.shares ?? 0;
    let rows = 0;
    let dropped = 0;
    let replacedAudit: RestoreResult["replacedAudit"] = { events: 0, head: null };
    await db.transaction().execute(async (trx) => {
      replacedAudit = await currentAuditLog(trx);
      await deleteAllRows(trx);
      const batch: { table: BackupTable | null; rows: TableRow[] } = { table: null, rows: [] };
      const flush = async (): Promise<void> => {
        if (batch.table !== null) await insertRows(trx, batch.table, batch.rows);
        batch.rows = [];
      };
      const queue: Array<[BackupTable, TableRow]> = [];
      const reader = createBodyReader((table, row) => {
        queue.push([table, row]);
      });
      await decryptBackupBody(file, key, async (chunk) => {
        reader.push(chunk);
        for (const [table, row] of queue.splice(0)) {
          rows += 1;
          const secretId = table.name === "secret_versions" ? row.secret_id : row.id;
          if (
            (table.name === "secrets" || table.name === "secret_versions") &&
            drop.has(String(secretId))
          ) {
            if (table.name === "secrets") dropped += 1;
            continue;
          }
          checkColumns(table, row, columns.get(table.name));
          if (batch.table !== table || batch.rows.length >= BATCH_ROWS) await flush();
          batch.table = table;
          batch.rows.push(row);
        }
        options.onProgress?.("restore", rows, total);
      });
      reader.finish();
      await flush();
      // The database's own ledger may name secrets destroyed after the backup: keep those rows.
      const restoredLedger = new Set(contents.shredded);
      const newer = ledger.filter((row) => !restoredLedger.has(row.secret_id));
      const ledgerTable = BACKUP_TABLES.find((table) => table.name === "shredded_secrets");
      if (ledgerTable !== undefined) {
        for (let i = 0; i < newer.length; i += BATCH_ROWS) {
          await insertRows(trx, ledgerTable, newer.slice(i, i + BATCH_ROWS));
        }
      }
      await syncIdentities(trx);
      await recordAuditEvent(
        trx,
        {
          actorId: options.actor.id,
          actorName: options.actor.name,
          action: "backup.restore",
          target: null,
          address: null,
          outcome: "success",
          details: {
            backupCreatedAt: header.createdAt,
            rows,
            dropped,
            sharesLeftOut,
            replacedEvents: replacedAudit.events,
            replacedHead: replacedAudit.head ?? "none",
          },
        },
        options.now(),
      );
    });
    await migrateToLatest(db);
    await dialectOf(db).scrubDeletedData(db);
    return {
      header,
      rows,
      dropped,
      sharesLeftOut,
      replacedAudit,
      audit: await verifyAuditChain(db),
    };
  } finally {
    key.fill(0);
  }
}

/** How many audit events `db` holds and the hash of the newest (null when none). */
async function currentAuditLog(db: Db): Promise<{ events: number; head: string | null }> {
  const row = await db
    .selectFrom("audit_events")
    .select((eb) => eb.fn.countAll<number | string>().as("n"))
    .executeTakeFirst();
  return { events: Number(row?.n ?? 0), head: await findLastAuditHash(db) };
}

/**
 * A restored row must have exactly the columns of its table at the backup's schema (which
 * the database has been given): no more, so nothing is silently lost, and no fewer.
 */
function checkColumns(table: BackupTable, row: TableRow, columns: Set<string> | undefined): void {
  const keys = Object.keys(row);
  if (
    columns === undefined ||
    keys.length !== columns.size ||
    !keys.every((column) => columns.has(column))
  ) {
    throw new BackupError(
      `the backup's ${table.name} rows do not have the columns of the ${table.name} table`,
    );
  }
}

/**
 * Gives `db` exactly the schema the backup was taken at: creates it in an empty database,
 * or migrates an older one up to it. A database already past it cannot take the backup's
 * rows as they are.
 */
async function prepareSchema(db: Db, backupMigrations: readonly string[]): Promise<void> {
  const known = knownMigrations();
  const isPrefix = (list: readonly string[], of: readonly string[]): boolean =>
    list.length <= of.length && list.every((name, i) => of[i] === name);
  if (!isPrefix(backupMigrations, known)) {
    throw new BackupError(
      "the backup was made by a newer Strongroom (its schema has migrations this one does not know): upgrade first",
    );
  }
  const applied = await appliedMigrations(db);
  if (!isPrefix(applied, backupMigrations)) {
    throw new BackupError(
      "the database's schema is newer than the backup's: restore into a new, empty database " +
        "(the restore brings it up to date afterwards)",
    );
  }
  const last = backupMigrations.at(-1);
  if (last !== undefined && applied.length < backupMigrations.length) await migrateUpTo(db, last);
}

/** A short account of what `db` holds, or null when every table is empty. */
async function describeContents(db: Db): Promise<string | null> {
  const tables = [...BACKUP_TABLES.map((table) => table.name), ...TRANSIENT_TABLES];
  const parts: string[] = [];
  for (const table of tables) {
    const n = await countRows(db, table);
    if (n > 0) parts.push(`${n} ${table.replaceAll("_", " ")}`);
  }
  return parts.length === 0 ? null : parts.join(", ");
}

/**
 * Splits decrypted bytes into JSON lines and checks the body's structure as it goes: the
 * counts line first, rows of known tables in table order, the end line last and nothing
 * after it. `finish` checks the end was reached and the counts match; it returns them. Rows
 * of a table backups no longer carry ({@link TABLES_NO_LONGER_BACKED_UP}, from a backup
 * written before) are counted against their count and not handed to `onRow`.
 */
function createBodyReader(onRow: (table: BackupTable, row: TableRow) => void): {
  push(chunk: Buffer): void;
  /** Rows read so far, of the total the counts line announced. */
  progress(): { done: number; total: number };
  finish(): Record<string, number>;
} {
  let done = 0;
  let total = 0;
  let buffered: Buffer[] = [];
  let bufferedBytes = 0;
  let counts: Record<string, number> | null = null;
  const seen: Record<string, number> = {};
  let tableIndex = 0;
  let ended = false;
  const damaged = (what: string): BackupError =>
    new BackupError(`the backup's contents are damaged: ${what}`);

  const handleLine = (line: Buffer): void => {
    if (ended) throw damaged("data after the end");
    let value: unknown;
    try {
      value = JSON.parse(line.toString("utf8"), decodeBinary);
    } catch {
      throw damaged("a line is not JSON");
    }
    if (typeof value !== "object" || value === null) throw damaged("a line is not an object");
    const entry = value as { counts?: unknown; t?: unknown; r?: unknown; end?: unknown };
    if (counts === null) {
      counts = checkCounts(entry.counts);
      if (counts === null) throw damaged("it does not start with the row counts");
      total = Object.values(counts).reduce((sum, n) => sum + n, 0);
      return;
    }
    if (entry.end === true) {
      ended = true;
      return;
    }
    if (typeof entry.t === "string" && TABLES_NO_LONGER_BACKED_UP.has(entry.t)) {
      if (typeof entry.r !== "object" || entry.r === null || Array.isArray(entry.r)) {
        throw damaged("a row is not an object");
      }
      seen[entry.t] = (seen[entry.t] ?? 0) + 1;
      done += 1;
      return;
    }
    const index = BACKUP_TABLES.findIndex((table) => table.name === entry.t);
    const table = BACKUP_TABLES[index];
    if (table === undefined || index < tableIndex)
      throw damaged("a row of an unknown table, or out of order");
    if (typeof entry.r !== "object" || entry.r === null || Array.isArray(entry.r)) {
      throw damaged("a row is not an object");
    }
    tableIndex = index;
    seen[table.name] = (seen[table.name] ?? 0) + 1;
    done += 1;
    onRow(table, entry.r as TableRow);
  };

  return {
    push(chunk) {
      let start = 0;
      for (let newline = chunk.indexOf(0x0a); newline >= 0; newline = chunk.indexOf(0x0a, start)) {
        buffered.push(chunk.subarray(start, newline));
        handleLine(Buffer.concat(buffered));
        buffered = [];
        bufferedBytes = 0;
        start = newline + 1;
      }
      if (start < chunk.length) {
        buffered.push(chunk.subarray(start));
        bufferedBytes += chunk.length - start;
        if (bufferedBytes > MAX_LINE_BYTES) throw damaged("a line is too long");
      }
    },
    progress: () => ({ done, total }),
    finish() {
      if (bufferedBytes > 0 || !ended || counts === null) throw damaged("it ends early");
      const tables = [...BACKUP_TABLES.map((table) => table.name), ...TABLES_NO_LONGER_BACKED_UP];
      for (const table of tables) {
        if ((seen[table] ?? 0) !== (counts[table] ?? 0)) {
          throw damaged(`the number of ${table} rows does not match`);
        }
      }
      return counts;
    },
  };
}

function checkCounts(value: unknown): Record<string, number> | null {
  if (typeof value !== "object" || value === null) return null;
  const counts: Record<string, number> = {};
  let named = 0;
  for (const table of BACKUP_TABLES) {
    const n = (value as Record<string, unknown>)[table.name];
    if (n === undefined && TABLES_ADDED_LATER.has(table.name)) {
      counts[table.name] = 0;
      continue;
    }
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) return null;
    counts[table.name] = n;
    named += 1;
  }
  for (const table of TABLES_NO_LONGER_BACKED_UP) {
    const n = (value as Record<string, unknown>)[table];
    if (n === undefined) continue;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) return null;
    counts[table] = n;
    named += 1;
  }
  return Object.keys(value).length === named ? counts : null;
}

/** JSON.parse reviver: `{"$b64": …}` back to a Buffer. */
function decodeBinary(_key: string, value: unknown): unknown {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const b64 = (value as { $b64?: unknown }).$b64;
    if (keys.length === 1 && typeof b64 === "string") return Buffer.from(b64, "base64");
  }
  return value;
}

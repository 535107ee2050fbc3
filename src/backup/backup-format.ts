/**
 * The backup file: a short authenticated header, then the whole body encrypted as one
 * AES-256-GCM message whose 128-bit tag ends the file.
 *
 *   STRONGROOM-BACKUP\n
 *   {header JSON}\n                      ← key derivation, nonce, schema; authenticated as AAD
 *   ciphertext of the body               ← JSON lines (see backup.service.ts)
 *   tag (16 bytes)
 *
 * The key is derived with HKDF-SHA256 from the current master key (salted per backup, so no
 * two backups share a key), or with Argon2id from a passphrase. Any change to the header,
 * the body or the tag, and any truncation, fails the tag check. GCM releases plaintext before
 * the tag is checked, so a restore reads the file twice: once to check the tag, then again
 * to apply it, inside a transaction that rolls back unless the tag checks again.
 */
import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import { open } from "node:fs/promises";
import { type Algorithm, hashRaw } from "@node-rs/argon2";
import { z } from "zod";
import type { MasterKey } from "../config/keys.js";
import { randomKeyBytes } from "../lib/random.js";

/** Algorithm.Argon2id: the package's enums are ambient const enums, not readable at runtime. */
const ARGON2ID = 2 as Algorithm.Argon2id;

/** The first line of every backup file. */
export const BACKUP_MAGIC = "STRONGROOM-BACKUP\n";
export const BACKUP_FORMAT_VERSION = 1;
const KEY_BYTES = 32;
const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
const SALT_BYTES = 32;
/** Longest header accepted: it is a few hundred bytes; this bounds what is read to find it. */
const MAX_HEADER_BYTES = 16 * 1024;
const HKDF_INFO = "strongroom backup v1";
/** GCM's limit per nonce is 2^39−256 bits; stop well before it (about 64 GiB). */
const MAX_BODY_BYTES = 2 ** 36 - 64;

/**
 * Argon2id cost for passphrase-encrypted backups: a stolen backup file invites an offline
 * guessing attack, so this is costlier than the sign-in hash (64 MiB, 3 passes).
 */
export const BACKUP_ARGON2 = Object.freeze({ memoryCost: 65_536, timeCost: 3, parallelism: 1 });
/** The most a header may ask for, so a crafted file cannot make a restore exhaust memory. */
const ARGON2_LIMITS = Object.freeze({ memoryCost: 1_048_576, timeCost: 20, parallelism: 8 });
/** Shortest passphrase accepted: it alone protects the file against offline guessing. */
export const MIN_PASSPHRASE_LENGTH = 16;

/** A backup that cannot be used: malformed, tampered with, truncated, or for another key. */
export class BackupError extends Error {
  override name = "BackupError";
}

const base64 = (bytes: number) =>
  z
    .string()
    .regex(/^[A-Za-z0-9+/]+={0,2}$/)
    .refine((text) => Buffer.from(text, "base64").length === bytes, `must be ${bytes} bytes`);

const headerSchema = z.strictObject({
  format: z.literal(BACKUP_FORMAT_VERSION),
  createdAt: z.iso.datetime(),
  engine: z.enum(["sqlite", "postgres"]),
  migrations: z
    .array(z.string().regex(/^[0-9a-z_]{1,64}$/))
    .min(1)
    .max(1000),
  key: z.discriminatedUnion("kind", [
    z.strictObject({
      kind: z.literal("master-key"),
      keyId: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/),
      salt: base64(SALT_BYTES),
    }),
    z.strictObject({
      kind: z.literal("passphrase"),
      algorithm: z.literal("argon2id"),
      memoryCost: z.number().int().min(8).max(ARGON2_LIMITS.memoryCost),
      timeCost: z.number().int().min(1).max(ARGON2_LIMITS.timeCost),
      parallelism: z.number().int().min(1).max(ARGON2_LIMITS.parallelism),
      salt: base64(SALT_BYTES),
    }),
  ]),
  nonce: base64(NONCE_BYTES),
});

/** What the header of a backup says. Authenticated (as AAD), not secret. */
export type BackupHeader = z.infer<typeof headerSchema>;

/** How a backup is (to be) encrypted: under the master key, or a passphrase. */
export type BackupSecret =
  | { kind: "master-key"; keyring: readonly MasterKey[] }
  | { kind: "passphrase"; passphrase: string };

/** A new header for a backup of a database at `migrations`, with fresh salt and nonce. */
export function newBackupHeader(
  secret: BackupSecret,
  meta: { engine: "sqlite" | "postgres"; migrations: string[]; now: Date },
): BackupHeader {
  const salt = randomKeyBytes(SALT_BYTES).toString("base64");
  const current = secret.kind === "master-key" ? secret.keyring[0] : undefined;
  if (secret.kind === "master-key" && current === undefined) throw new BackupError("no master key");
  return {
    format: BACKUP_FORMAT_VERSION,
    createdAt: meta.now.toISOString(),
    engine: meta.engine,
    migrations: meta.migrations,
    key:
      current !== undefined
        ? { kind: "master-key", keyId: current.id, salt }
        : { kind: "passphrase", algorithm: "argon2id", ...BACKUP_ARGON2, salt },
    nonce: randomKeyBytes(NONCE_BYTES).toString("base64"),
  };
}

/** The bytes before the ciphertext: magic line and header line. They are the GCM AAD. */
export function encodeBackupPreamble(header: BackupHeader): Buffer {
  return Buffer.from(`${BACKUP_MAGIC}${JSON.stringify(header)}\n`, "utf8");
}

/**
 * The file key for `header`. For a master-key backup the key named in the header must be in
 * `secret.keyring`; a passphrase backup needs the passphrase.
 * @throws BackupError when the secret does not fit the header.
 */
export async function deriveBackupKey(header: BackupHeader, secret: BackupSecret): Promise<Buffer> {
  const salt = Buffer.from(header.key.salt, "base64");
  if (header.key.kind === "master-key") {
    if (secret.kind !== "master-key") {
      throw new BackupError("this backup is encrypted with the master key, not a passphrase");
    }
    const { keyId } = header.key;
    const entry = secret.keyring.find((key) => key.id === keyId);
    if (entry === undefined) {
      throw new BackupError(
        `this backup is encrypted with master key "${keyId}", which is not in MASTER_KEY`,
      );
    }
    return Buffer.from(hkdfSync("sha256", entry.key.reveal(), salt, HKDF_INFO, KEY_BYTES));
  }
  if (secret.kind !== "passphrase") {
    throw new BackupError(
      "this backup is encrypted with a passphrase: restore it with --passphrase-stdin",
    );
  }
  const { memoryCost, timeCost, parallelism } = header.key;
  return hashRaw(secret.passphrase, {
    algorithm: ARGON2ID,
    memoryCost,
    timeCost,
    parallelism,
    outputLen: KEY_BYTES,
    salt,
  });
}

/** Encrypts a backup body as it is produced: call `update` per chunk, then `final`. */
export interface BackupEncryptor {
  update(plaintext: Buffer): Buffer;
  /** The last ciphertext bytes followed by the tag. */
  final(): Buffer;
}

export function createBackupEncryptor(header: BackupHeader, key: Buffer): BackupEncryptor {
  const cipher = createCipheriv("aes-256-gcm", key, Buffer.from(header.nonce, "base64"), {
    authTagLength: TAG_BYTES,
  });
  cipher.setAAD(encodeBackupPreamble(header));
  let length = 0;
  return {
    update(plaintext) {
      length += plaintext.length;
      if (length > MAX_BODY_BYTES) throw new BackupError("the backup is too large for one file");
      return cipher.update(plaintext);
    },
    final: () => Buffer.concat([cipher.final(), cipher.getAuthTag()]),
  };
}

/** An opened backup file: its header and where its ciphertext lies. */
export interface BackupFile {
  path: string;
  header: BackupHeader;
  /** Byte offset of the ciphertext (just after the header line). */
  bodyStart: number;
  /** Byte offset of the tag (just after the ciphertext). */
  bodyEnd: number;
  tag: Buffer;
}

/**
 * Reads and checks the header of the backup at `path` (nothing is decrypted yet).
 * @throws BackupError when it is not a Strongroom backup, its header is malformed, or it is
 *   too short to hold a tag.
 */
export async function openBackupFile(path: string): Promise<BackupFile> {
  const handle = await open(path, "r");
  try {
    const { size } = await handle.stat();
    const head = Buffer.alloc(Math.min(size, MAX_HEADER_BYTES));
    await handle.read(head, 0, head.length, 0);
    if (!head.subarray(0, BACKUP_MAGIC.length).equals(Buffer.from(BACKUP_MAGIC))) {
      throw new BackupError("this is not a Strongroom backup file");
    }
    const lineEnd = head.indexOf(0x0a, BACKUP_MAGIC.length);
    if (lineEnd < 0) throw new BackupError("the backup header is damaged or truncated");
    let parsed: unknown;
    try {
      parsed = JSON.parse(head.subarray(BACKUP_MAGIC.length, lineEnd).toString("utf8"));
    } catch {
      throw new BackupError("the backup header is damaged");
    }
    const header = headerSchema.safeParse(parsed);
    if (!header.success) {
      const version = (parsed as { format?: unknown } | null)?.format;
      throw new BackupError(
        typeof version === "number" && version !== BACKUP_FORMAT_VERSION
          ? `this backup has format ${version}; this Strongroom reads format ${BACKUP_FORMAT_VERSION}`
          : "the backup header is damaged",
      );
    }
    const bodyStart = lineEnd + 1;
    const bodyEnd = size - TAG_BYTES;
    if (bodyEnd < bodyStart) throw new BackupError("the backup is truncated");
    const tag = Buffer.alloc(TAG_BYTES);
    await handle.read(tag, 0, TAG_BYTES, bodyEnd);
    return { path, header: header.data, bodyStart, bodyEnd, tag };
  } finally {
    await handle.close();
  }
}

/**
 * Decrypts the body of `file` chunk by chunk, handing each plaintext chunk to `onChunk`;
 * resolves only if the tag verifies at the end. Plaintext handed out before that is
 * unauthenticated: callers must be able to undo what they did with it.
 *
 * When `onChunk` throws, it gets no more chunks, but the rest is still read: plaintext that
 * makes no sense more likely means a wrong key or an altered file than a bad backup, and
 * then the failed tag is what gets reported. `onChunk`'s error is rethrown only if the tag
 * verifies.
 * @throws BackupError when the tag does not verify (wrong key, tampering, truncation).
 */
export async function decryptBackupBody(
  file: BackupFile,
  key: Buffer,
  onChunk: (plaintext: Buffer) => Promise<void> | void,
  onBytes?: (done: number, total: number) => void,
): Promise<void> {
  const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(file.header.nonce, "base64"), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(encodeBackupPreamble(file.header));
  decipher.setAuthTag(file.tag);
  const failure: { happened: boolean; error?: unknown } = { happened: false };
  const deliver = async (plaintext: Buffer): Promise<void> => {
    if (failure.happened) return;
    try {
      await onChunk(plaintext);
    } catch (error) {
      failure.happened = true;
      failure.error = error;
    }
  };
  const handle = await open(file.path, "r");
  const total = file.bodyEnd - file.bodyStart;
  try {
    const chunk = Buffer.alloc(1024 * 1024);
    let position = file.bodyStart;
    while (position < file.bodyEnd) {
      const want = Math.min(chunk.length, file.bodyEnd - position);
      const { bytesRead } = await handle.read(chunk, 0, want, position);
      if (bytesRead === 0) throw new BackupError("the backup is truncated");
      position += bytesRead;
      await deliver(decipher.update(chunk.subarray(0, bytesRead)));
      onBytes?.(position - file.bodyStart, total);
    }
  } finally {
    await handle.close();
  }
  let rest: Buffer;
  try {
    rest = decipher.final();
  } catch {
    throw new BackupError(
      "the backup failed its integrity check: it was altered or truncated, or the key or passphrase is wrong",
    );
  }
  await deliver(rest);
  if (failure.happened) throw failure.error;
}

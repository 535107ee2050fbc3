/**
 * Verification of password hashes imported from Python/Flask applications: bcrypt and
 * Werkzeug's `generate_password_hash` formats. Strongroom never writes these formats; a
 * successful check is the caller's cue to rehash with Argon2id (see `passwords.ts`).
 *
 * Every stored string is parsed strictly and its cost parameters are bounded before any
 * work is done: a hostile or corrupted row must not be able to pin a libuv thread for
 * minutes or allocate gigabytes. Anything that does not parse verifies as `false`.
 */

import { pbkdf2, scrypt, timingSafeEqual } from "node:crypto";
import { createRequire } from "node:module";
import { promisify } from "node:util";

const pbkdf2Async = promisify(pbkdf2);

/** Which family a stored password hash belongs to, judged by its prefix alone. */
export type PasswordHashKind =
  | "argon2id"
  | "argon2"
  | "bcrypt"
  | "werkzeug-pbkdf2"
  | "werkzeug-scrypt"
  | "unknown";

/** Longest stored hash we parse; real ones are < 200 characters (scrypt's 128 hex + prefix). */
const MAX_STORED_HASH_LENGTH = 512;

/**
 * bcrypt cost ceiling (2^16 rounds, several seconds). Python apps use 10–14; a larger cost
 * in a stored row is treated as hostile rather than spending minutes on it (cost 31 is 2^31).
 */
const MAX_BCRYPT_COST = 16;

/** Werkzeug 3.1 writes 1,000,000; twice that bounds the time one hostile row can cost. */
const MAX_PBKDF2_ITERATIONS = 2_000_000;

/** Werkzeug's salts are 16 characters (8 before 2.3); a generous cap bounds parsing work. */
const MAX_WERKZEUG_SALT_LENGTH = 256;

/**
 * scrypt bounds. Werkzeug's default is N=32768, r=8, p=1 (32 MiB, 2^18 work units). Memory is
 * capped at 256 MiB (N=2^17 with r=8 still fits) and work (N·r·p) at 16× the default.
 */
const MAX_SCRYPT_MEMORY_BYTES = 256 * 1024 * 1024;
const MAX_SCRYPT_WORK = 2 ** 22;
const MAX_SCRYPT_P = 16;
const MAX_SCRYPT_R = 32;
/** Werkzeug uses hashlib.scrypt's default key length. */
const SCRYPT_KEY_BYTES = 64;

/** Digest sizes in bytes: Werkzeug leaves `dklen` at the default, i.e. the digest size. */
const PBKDF2_DIGEST_BYTES: Readonly<Record<string, number>> = {
  // sha1 was Werkzeug's pbkdf2 default before 0.15, so old Flask databases hold it.
  sha1: 20,
  sha256: 32,
  sha512: 64,
};

/**
 * Names the family of a stored hash from its prefix, without checking the rest: a hash that
 * is labelled correctly but malformed is still reported (and then fails verification). Useful
 * for counting how many accounts still await an upgrade. Never throws.
 */
export function identifyPasswordHash(stored: string): PasswordHashKind {
  if (typeof stored !== "string") return "unknown";
  if (stored.startsWith("$argon2id$")) return "argon2id";
  if (stored.startsWith("$argon2i$") || stored.startsWith("$argon2d$")) return "argon2";
  if (/^\$2[aby]\$/.test(stored)) return "bcrypt";
  if (stored.startsWith("pbkdf2:")) return "werkzeug-pbkdf2";
  if (stored.startsWith("scrypt:") || stored.startsWith("scrypt$")) return "werkzeug-scrypt";
  return "unknown";
}

/**
 * True when `stored` is a bcrypt or Werkzeug hash that verifyLegacyPasswordHash would
 * actually check: well-formed and within the cost bounds. No password is needed and no
 * hashing is done, so a whole file of imported hashes can be vetted at once. Never throws.
 */
export function isVerifiableLegacyHash(stored: string): boolean {
  if (typeof stored !== "string" || stored.length > MAX_STORED_HASH_LENGTH) return false;
  switch (identifyPasswordHash(stored)) {
    case "bcrypt":
      return isUsableBcrypt(stored);
    case "werkzeug-pbkdf2":
      return parseWerkzeugPbkdf2(stored) !== null;
    case "werkzeug-scrypt":
      return parseWerkzeugScrypt(stored) !== null;
    default:
      return false;
  }
}

/**
 * Checks `password` against a bcrypt or Werkzeug hash. Resolves `false` for a wrong password
 * and for anything it cannot or will not verify (unknown format, malformed text, costs above
 * the bounds above, a Werkzeug pbkdf2 hash without an iteration count). Never rejects.
 * The password is used as its UTF-8 bytes, unnormalised, as the Python libraries did.
 */
export async function verifyLegacyPasswordHash(stored: string, password: string): Promise<boolean> {
  if (typeof stored !== "string" || typeof password !== "string") return false;
  if (stored.length > MAX_STORED_HASH_LENGTH) return false;
  try {
    switch (identifyPasswordHash(stored)) {
      case "bcrypt":
        return await verifyBcrypt(stored, password);
      case "werkzeug-pbkdf2":
        return await verifyWerkzeugPbkdf2(stored, password);
      case "werkzeug-scrypt":
        return await verifyWerkzeugScrypt(stored, password);
      default:
        return false;
    }
  } catch {
    // A stored value that slips past the parsers and makes a library throw is still just a
    // hash we cannot verify; a login must fail closed, not become a 500.
    return false;
  }
}

const BCRYPT_PATTERN = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/** True for a well-formed bcrypt hash whose cost is within the bounds. */
function isUsableBcrypt(stored: string): boolean {
  const match = BCRYPT_PATTERN.exec(stored);
  if (match === null) return false;
  const cost = Number(match[1]);
  return cost >= 4 && cost <= MAX_BCRYPT_COST;
}

async function verifyBcrypt(stored: string, password: string): Promise<boolean> {
  if (!isUsableBcrypt(stored)) return false;
  // bcrypt only reads the first 72 bytes of the password, so anything typed after them is
  // ignored; that silent truncation is one reason these hashes are replaced by Argon2id at
  // the next successful login. $2a$, $2b$ and $2y$ differ only in historical bugs that do not
  // affect UTF-8 passwords of at most 72 bytes, and the library treats them alike.
  // Loaded on first use: only servers that imported bcrypt hashes ever need it.
  const bcrypt = createRequire(import.meta.url)(
    "@node-rs/bcrypt",
  ) as typeof import("@node-rs/bcrypt");
  return await bcrypt.verify(Buffer.from(password, "utf8"), stored);
}

interface WerkzeugParts {
  method: string;
  salt: string;
  hexHash: string;
}

/** Splits `method$salt$hash` the way Werkzeug's `pwhash.split("$", 2)` does. */
function splitWerkzeugHash(stored: string): WerkzeugParts | null {
  const first = stored.indexOf("$");
  const second = stored.indexOf("$", first + 1);
  if (first <= 0 || second < 0) return null;
  const salt = stored.slice(first + 1, second);
  if (salt.length === 0 || salt.length > MAX_WERKZEUG_SALT_LENGTH) return null;
  return { method: stored.slice(0, first), salt, hexHash: stored.slice(second + 1) };
}

/** Parses Werkzeug's lowercase hex (`bytes.hex()`) of exactly `byteLength` bytes. */
function decodeHexHash(hexHash: string, byteLength: number): Buffer | null {
  if (hexHash.length !== byteLength * 2 || !/^[0-9a-f]+$/.test(hexHash)) return null;
  return Buffer.from(hexHash, "hex");
}

function equalKeys(derived: Buffer, expected: Buffer): boolean {
  // timingSafeEqual throws on a length mismatch; lengths are public (fixed by the format).
  return derived.length === expected.length && timingSafeEqual(derived, expected);
}

interface Pbkdf2Hash {
  digest: string;
  iterations: number;
  digestBytes: number;
  salt: string;
  expected: Buffer;
}

/** Parses `pbkdf2:DIGEST:ITERATIONS$salt$hex` within the bounds, else null. */
function parseWerkzeugPbkdf2(stored: string): Pbkdf2Hash | null {
  const parts = splitWerkzeugHash(stored);
  if (parts === null) return null;
  // Every Werkzeug release that supports pbkdf2 (0.9 onwards) writes the iteration count
  // ("pbkdf2:sha256:260000$…"). A "pbkdf2:sha256$…" string was never written by
  // generate_password_hash; Werkzeug itself would check it with the *checking* version's
  // default (1000, 50000, 150000, 260000, 600000 or 1000000 depending on release), so the
  // count that makes it verify cannot be recovered from the hash. Guessing would mean trying
  // several counts (slow, and widens what matches), so such hashes are refused.
  const method = /^pbkdf2:(sha1|sha256|sha512):([1-9]\d{0,9})$/.exec(parts.method);
  if (method === null) return null;
  const digest = method[1] ?? "";
  const iterations = Number(method[2]);
  const digestBytes = PBKDF2_DIGEST_BYTES[digest];
  if (digestBytes === undefined || iterations > MAX_PBKDF2_ITERATIONS) return null;
  const expected = decodeHexHash(parts.hexHash, digestBytes);
  if (expected === null) return null;
  return { digest, iterations, digestBytes, salt: parts.salt, expected };
}

async function verifyWerkzeugPbkdf2(stored: string, password: string): Promise<boolean> {
  const hash = parseWerkzeugPbkdf2(stored);
  if (hash === null) return false;
  const derived = await pbkdf2Async(
    Buffer.from(password, "utf8"),
    Buffer.from(hash.salt, "utf8"),
    hash.iterations,
    hash.digestBytes,
    hash.digest,
  );
  return equalKeys(derived, hash.expected);
}

/** node:crypto's callback `scrypt` with options, as a promise (promisify loses the overload). */
function scryptAsync(
  password: Buffer,
  salt: Buffer,
  keyLength: number,
  options: { N: number; r: number; p: number; maxmem: number },
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, keyLength, options, (error, key) => {
      if (error === null) resolve(key);
      else reject(error);
    });
  });
}

interface ScryptHash {
  N: number;
  r: number;
  p: number;
  memoryBytes: number;
  salt: string;
  expected: Buffer;
}

/** Parses `scrypt:N:r:p$salt$hex` within the bounds, else null. */
function parseWerkzeugScrypt(stored: string): ScryptHash | null {
  const parts = splitWerkzeugHash(stored);
  if (parts === null) return null;
  // Werkzeug always writes "scrypt:N:r:p"; a bare "scrypt$…" was never produced, so, as for
  // pbkdf2 without a count, it is refused rather than guessed.
  const method = /^scrypt:([1-9]\d{0,9}):([1-9]\d{0,9}):([1-9]\d{0,9})$/.exec(parts.method);
  if (method === null) return null;
  const N = Number(method[1]);
  const r = Number(method[2]);
  const p = Number(method[3]);
  // N must be a power of two greater than 1 (RFC 7914); reject before doing any arithmetic
  // that a huge value could make meaningless.
  if (N < 2 || N > 2 ** 30 || (N & (N - 1)) !== 0) return null;
  if (r > MAX_SCRYPT_R || p > MAX_SCRYPT_P || N * r * p > MAX_SCRYPT_WORK) return null;
  // OpenSSL needs 128·r·(N + 2) bytes for V plus 128·r·p for B; refuse rather than allocate
  // more than the cap, and give OpenSSL exactly what this hash needs as its limit.
  const memoryBytes = 128 * r * (N + 2 + p);
  if (memoryBytes > MAX_SCRYPT_MEMORY_BYTES) return null;
  const expected = decodeHexHash(parts.hexHash, SCRYPT_KEY_BYTES);
  if (expected === null) return null;
  return { N, r, p, memoryBytes, salt: parts.salt, expected };
}

async function verifyWerkzeugScrypt(stored: string, password: string): Promise<boolean> {
  const hash = parseWerkzeugScrypt(stored);
  if (hash === null) return false;
  const derived = await scryptAsync(
    Buffer.from(password, "utf8"),
    Buffer.from(hash.salt, "utf8"),
    SCRYPT_KEY_BYTES,
    { N: hash.N, r: hash.r, p: hash.p, maxmem: hash.memoryBytes + 1024 * 1024 },
  );
  return equalKeys(derived, hash.expected);
}

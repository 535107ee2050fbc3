/**
 * Password hashing: Argon2id (RFC 9106) in PHC string form, with verification of imported
 * bcrypt/Werkzeug hashes and a rehash signal so old hashes are upgraded at the next login.
 *
 * Hashing runs on worker threads at a lower CPU priority than the event loop (argon2-pool.ts),
 * so a login never blocks the event loop and a flood of them does not starve other requests.
 *
 * New hashes are computed over the NFKC form of the password (NIST SP 800-63B-4 §3.1.1.2), so
 * the same password typed on keyboards that produce composed or decomposed accents still
 * matches. Legacy hashes are checked over the password exactly as given, as Python did.
 */

import { randomBytes } from "node:crypto";
import type { Algorithm, Version } from "@node-rs/argon2";
import { argon2Hash, argon2Verify } from "./argon2-pool.js";
import { isVerifiableLegacyHash, verifyLegacyPasswordHash } from "./legacy-passwords.js";

// The package declares Algorithm and Version as ambient const enums, which cannot be read at
// run time (its JavaScript exports them as empty objects); these are its declared values.
const ARGON2ID = 2 as Algorithm.Argon2id;
const VERSION_0X13 = 1 as Version.V0x13;

/** Argon2id cost parameters. */
export interface Argon2Parameters {
  /** Memory per hash, in KiB (the PHC `m=`). */
  memoryKiB: number;
  /** Number of passes over memory (the PHC `t=`). */
  iterations: number;
  /** Lanes (the PHC `p=`); each lane gets memoryKiB / parallelism. */
  parallelism: number;
}

/**
 * The floor below which `hashPassword` refuses to hash: OWASP Password Storage Cheat Sheet's
 * first configuration, 19 MiB, 2 passes, 1 lane. Each field is compared on its own, so
 * OWASP's equivalent trade-offs with fewer passes (e.g. 46 MiB, t=1) are refused too.
 */
export const OWASP_MINIMUM_ARGON2: Argon2Parameters = Object.freeze({
  memoryKiB: 19456,
  iterations: 2,
  parallelism: 1,
});

/**
 * Default Argon2id parameters: OWASP's first recommended configuration (19 MiB, t=2, p=1),
 * about 20–40 ms per hash on a server core. Operators may raise any of them (up to
 * ARGON2_PARAMETER_LIMITS); existing hashes are then upgraded at each user's next login.
 */
export const DEFAULT_ARGON2: Argon2Parameters = Object.freeze({
  memoryKiB: 19456,
  iterations: 2,
  parallelism: 1,
});

/**
 * The most expensive parameters Strongroom will write or verify: 4 GiB, 100 passes, 16 lanes
 * (the ranges src/config accepts for ARGON2_*). A stored hash above them is treated as
 * hostile and fails verification instead of exhausting memory or time.
 */
export const ARGON2_PARAMETER_LIMITS: Argon2Parameters = Object.freeze({
  memoryKiB: 4 * 1024 * 1024,
  iterations: 100,
  parallelism: 16,
});

/**
 * Longest accepted password, in Unicode code points (characters). Passwords are never
 * truncated: longer ones are refused, which also bounds the work an attacker can request.
 */
export const MAX_PASSWORD_LENGTH = 1024;

/** Outcome of `verifyPassword`. */
export interface PasswordVerification {
  /** The password matches the stored hash. */
  ok: boolean;
  /** `ok` and the stored hash should be replaced by `hashPassword(password, params)`. */
  needsRehash: boolean;
}

const SALT_BYTES = 16;
const OUTPUT_BYTES = 32;
/** Argon2 version 0x13 = 19, the only one RFC 9106 specifies. */
const CURRENT_VERSION = 19;
/** Longer strings are not real PHC hashes (ours are ~100 characters); skip parsing them. */
const MAX_STORED_HASH_LENGTH = 512;

/** A fresh object each time, so no caller can alter another's result. */
function failed(): PasswordVerification {
  return { ok: false, needsRehash: false };
}

/**
 * Hashes `password` with Argon2id, a fresh 16-byte random salt and a 32-byte output, and
 * returns the PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash`.
 * Throws RangeError when `params` are not integers, are below OWASP_MINIMUM_ARGON2 or above
 * ARGON2_PARAMETER_LIMITS, or when the password is longer than MAX_PASSWORD_LENGTH (it could
 * never be verified; the password policy refuses such passwords first).
 */
export async function hashPassword(password: string, params: Argon2Parameters): Promise<string> {
  assertUsableParameters(params);
  if (isTooLong(password)) {
    throw new RangeError(`password is longer than ${MAX_PASSWORD_LENGTH} characters`);
  }
  return await argon2Hash(encodePassword(password), {
    algorithm: ARGON2ID,
    version: VERSION_0X13,
    memoryCost: params.memoryKiB,
    timeCost: params.iterations,
    parallelism: params.parallelism,
    outputLen: OUTPUT_BYTES,
    salt: randomBytes(SALT_BYTES),
  });
}

/**
 * Checks `password` against a stored hash: Argon2id/Argon2i/Argon2d PHC strings, and bcrypt
 * and Werkzeug hashes (see legacy-passwords.ts). `needsRehash` is true after a successful
 * check when the hash is a legacy format, not Argon2id v19, or made with m/t/p other than
 * `params` (higher or lower). Unknown, garbled or over-expensive stored hashes, passwords
 * longer than MAX_PASSWORD_LENGTH (refused without hashing) and non-string input all give
 * `{ ok: false, needsRehash: false }`. Never rejects.
 */
export async function verifyPassword(
  stored: string,
  password: string,
  params: Argon2Parameters,
): Promise<PasswordVerification> {
  if (typeof stored !== "string" || typeof password !== "string" || isTooLong(password)) {
    return failed();
  }
  const phc = parseArgon2Hash(stored);
  if (phc !== null) {
    if (!(await verifyArgon2(stored, password))) return failed();
    const current =
      phc.algorithm === "argon2id" &&
      phc.version === CURRENT_VERSION &&
      phc.memoryKiB === params.memoryKiB &&
      phc.iterations === params.iterations &&
      phc.parallelism === params.parallelism;
    return { ok: true, needsRehash: !current };
  }
  // Legacy formats are verified over the raw password: the Python apps did not normalise.
  const ok = await verifyLegacyPasswordHash(stored, password);
  return ok ? { ok: true, needsRehash: true } : failed();
}

/**
 * True when `stored` is a hash verifyPassword can check — an Argon2 PHC string or a bcrypt or
 * Werkzeug hash, well-formed and within the cost limits — judged without a password. An
 * account imported with any other string could never sign in. Never throws.
 */
export function isVerifiablePasswordHash(stored: string): boolean {
  if (typeof stored !== "string") return false;
  return parseArgon2Hash(stored) !== null || isVerifiableLegacyHash(stored);
}

/** Dummy hashes per parameter set, computed on first use; the promise dedupes racing logins. */
const dummyHashes = new Map<string, Promise<string>>();

/**
 * Spends the time of one Argon2id verification with `params` and discards the result, so a
 * login for an unknown user takes as long as one for a real user whose hash is current.
 * The dummy hash for each parameter set is computed once, lazily, and cached. Passwords
 * longer than MAX_PASSWORD_LENGTH return at once, exactly as `verifyPassword` does.
 * Throws (rejects) only when `params` are unusable, as `hashPassword` does.
 */
export async function burnVerification(password: string, params: Argon2Parameters): Promise<void> {
  assertUsableParameters(params);
  if (typeof password !== "string" || isTooLong(password)) return;
  const key = `${params.memoryKiB},${params.iterations},${params.parallelism}`;
  let dummy = dummyHashes.get(key);
  if (dummy === undefined) {
    // Its salt is random, so the "password" it was made from need not be secret: no input
    // can be known to match it, and the result is ignored anyway.
    dummy = hashPassword("strongroom burn verification", params);
    dummyHashes.set(key, dummy);
    dummy.catch(() => dummyHashes.delete(key));
  }
  await verifyArgon2(await dummy, password);
}

/** Code points exceed the limit. The UTF-16 pre-checks avoid walking a huge hostile string. */
function isTooLong(password: string): boolean {
  if (password.length <= MAX_PASSWORD_LENGTH) return false;
  if (password.length > MAX_PASSWORD_LENGTH * 2) return true;
  let codePoints = 0;
  for (const _ of password) codePoints += 1;
  return codePoints > MAX_PASSWORD_LENGTH;
}

/** The bytes Argon2 sees: NFKC, then UTF-8 (a lone surrogate becomes U+FFFD). */
function encodePassword(password: string): Buffer {
  return Buffer.from(password.normalize("NFKC"), "utf8");
}

async function verifyArgon2(stored: string, password: string): Promise<boolean> {
  try {
    return await argon2Verify(stored, encodePassword(password));
  } catch {
    // The library rejects on hashes it cannot decode (bad base64, salt too short, …); that is
    // a failed login, not a server error.
    return false;
  }
}

interface ParsedArgon2Hash extends Argon2Parameters {
  algorithm: "argon2id" | "argon2i" | "argon2d";
  version: number;
}

// The reference implementation's encoding: optional v=, then m, t, p in this order, then
// unpadded standard base64 salt and hash.
const ARGON2_PATTERN =
  /^\$(argon2id|argon2i|argon2d)\$(?:v=(\d{1,3})\$)?m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,3})\$[A-Za-z0-9+/]{11,}\$[A-Za-z0-9+/]{16,}$/;

/** Parses a PHC Argon2 string whose costs are within ARGON2_PARAMETER_LIMITS, else null. */
function parseArgon2Hash(stored: string): ParsedArgon2Hash | null {
  if (stored.length > MAX_STORED_HASH_LENGTH) return null;
  const match = ARGON2_PATTERN.exec(stored);
  if (match === null) return null;
  const parsed: ParsedArgon2Hash = {
    algorithm: match[1] as ParsedArgon2Hash["algorithm"],
    // A PHC string without v= is Argon2 1.0 (0x10 = 16) by the reference implementation's rule.
    version: match[2] === undefined ? 16 : Number(match[2]),
    memoryKiB: Number(match[3]),
    iterations: Number(match[4]),
    parallelism: Number(match[5]),
  };
  if (!withinLimits(parsed, { memoryKiB: 8, iterations: 1, parallelism: 1 })) return null;
  return parsed;
}

function withinLimits(params: Argon2Parameters, floor: Argon2Parameters): boolean {
  const keys = ["memoryKiB", "iterations", "parallelism"] as const;
  return keys.every(
    (key) =>
      Number.isSafeInteger(params[key]) &&
      params[key] >= floor[key] &&
      params[key] <= ARGON2_PARAMETER_LIMITS[key],
  );
}

function assertUsableParameters(params: Argon2Parameters): void {
  if (!withinLimits(params, OWASP_MINIMUM_ARGON2)) {
    throw new RangeError(
      "Argon2 parameters must be integers between OWASP_MINIMUM_ARGON2 " +
        `(m=${OWASP_MINIMUM_ARGON2.memoryKiB}, t=${OWASP_MINIMUM_ARGON2.iterations}, ` +
        `p=${OWASP_MINIMUM_ARGON2.parallelism}) and ARGON2_PARAMETER_LIMITS`,
    );
  }
}

import { createHash } from "node:crypto";
import { randomKeyBytes } from "../lib/random.js";

/**
 * Two-factor recovery codes: single-use, high-entropy codes shown once at TOTP enrolment and
 * stored only as hashes. Each is 120 random bits written as 24 characters of Crockford's
 * base32 (lowercase; no i, l, o or u, so nothing reads as another character), grouped
 * `xxxx-xxxx-xxxx-xxxx-xxxx-xxxx` for reading aloud and typing.
 *
 * Codes issued before 120 bits were 80 bits, 16 characters (`xxxx-xxxx-xxxx-xxxx`); they
 * are still accepted, normalised and hashed the same way, so stored ones keep working until
 * used or replaced at the next enrolment.
 */

/** Crockford's base32 alphabet, lowercase. */
const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";
/**
 * 15 bytes = 120 bits = exactly 24 base32 characters. At least 112 bits lets a single fast
 * hash protect the stored code (ASVS 5.0 V6.5.2): guessing is out of reach, salt or not.
 */
const CODE_BYTES = 15;
/** Bits of entropy in a newly issued code. */
export const RECOVERY_CODE_BITS = CODE_BYTES * 8;
const CODE_CHARACTERS = 24;
/** The length of codes issued before 120 bits (80 bits), still redeemable. */
const LEGACY_CODE_CHARACTERS = 16;
const GROUP_LENGTH = 4;
/** Upper bound on how many codes one call makes; more would only be a mistake. */
const MAX_COUNT = 100;
/** Longest input worth normalising; anything longer is refused before any work. */
const MAX_INPUT_LENGTH = 64;
/** Letters people type for digits they misread, mapped as Crockford's base32 specifies. */
const LOOK_ALIKES: Readonly<Record<string, string>> = { o: "0", i: "1", l: "1" };
const NORMALISED_FORMAT = new RegExp(
  `^(?:[${ALPHABET}]{${CODE_CHARACTERS}}|[${ALPHABET}]{${LEGACY_CODE_CHARACTERS}})$`,
);

/**
 * `count` new recovery codes (default 10), each 120 bits from the OS CSPRNG, formatted
 * `xxxx-xxxx-xxxx-xxxx-xxxx-xxxx`. Throws `RangeError` unless 1 ≤ count ≤ 100.
 */
export function generateRecoveryCodes(count = 10): string[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT) {
    throw new RangeError(`count must be an integer from 1 to ${MAX_COUNT}`);
  }
  const codes = new Set<string>();
  // A repeat among 120-bit values is practically impossible, but a set makes "distinct" a
  // guarantee rather than a probability.
  while (codes.size < count) codes.add(formatCode(encodeBase32(randomKeyBytes(CODE_BYTES))));
  return [...codes];
}

/**
 * The canonical form of what a user typed (24 lowercase Crockford characters, or 16 for a
 * code issued before 120 bits; no dashes), or null when it cannot be a recovery code. Forgiving of how people type: any case, spaces,
 * dashes, and o/i/l for 0/1/1. Inputs longer than 64 characters are refused outright.
 */
export function normaliseRecoveryCode(input: string): string | null {
  if (input.length > MAX_INPUT_LENGTH) return null;
  const compact = input
    .toLowerCase()
    .replace(/[\s-]/g, "")
    .replace(/[oil]/g, (letter) => LOOK_ALIKES[letter] ?? letter);
  return NORMALISED_FORMAT.test(compact) ? compact : null;
}

/**
 * SHA-256 (hex) of the normalised code, for storage and lookup. A fast unsalted hash is
 * enough here, unlike for passwords, because each new code carries 120 random bits (ASVS
 * asks for a salted password hash only below 112): there is no dictionary to try and brute
 * force is out of reach. Legacy 16-character codes hash the same way, so their stored hashes
 * still match. Throws `TypeError` when `code` cannot be a recovery code; check user input
 * with `normaliseRecoveryCode` first.
 */
export function hashRecoveryCode(code: string): string {
  const normalised = normaliseRecoveryCode(code);
  if (normalised === null) throw new TypeError("not a recovery code");
  return createHash("sha256").update(normalised, "utf8").digest("hex");
}

/** Base32 (Crockford alphabet), most significant bit first; `bytes.length * 8` must be a multiple of 5. */
function encodeBase32(bytes: Buffer): string {
  let output = "";
  let accumulator = 0;
  let bits = 0;
  for (const byte of bytes) {
    accumulator = ((accumulator << 8) | byte) & 0xfff; // at most 12 bits are ever pending
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      output += ALPHABET[(accumulator >> bits) & 0x1f];
    }
  }
  return output;
}

function formatCode(characters: string): string {
  const groups: string[] = [];
  for (let start = 0; start < characters.length; start += GROUP_LENGTH) {
    groups.push(characters.slice(start, start + GROUP_LENGTH));
  }
  return groups.join("-");
}

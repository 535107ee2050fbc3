import { deflateRawSync } from "node:zlib";

/** Minimum key length in bytes: 256 bits (SPEC §2). */
export const MIN_KEY_BYTES = 32;

/**
 * Values people paste from tutorials and templates. A key equal to one of these, or one that
 * contains one of the longer ones, is refused in production whatever its length.
 */
const EXACT_PLACEHOLDERS = new Set([
  "changeme",
  "change-me",
  "change_me",
  "secret",
  "secret_key",
  "secret-key",
  "secretkey",
  "dev",
  "development",
  "test",
  "testing",
  "default",
  "password",
  "key",
  "api_key_goes_here",
  "your-secret-key",
  "your_secret_key",
  "todo",
  "xxx",
]);

/** Substrings that no randomly generated key of this length plausibly contains (≥ 6 letters). */
const PLACEHOLDER_WORDS = [
  "changeme",
  "change_me",
  "change-me",
  "secret",
  "password",
  "placeholder",
  "example",
  "api_key_goes_here",
  "goes_here",
  "replace",
  "insecure",
  "default",
  "development",
  "notasecret",
  "yoursecret",
];

/**
 * Decodes a key written as hex or base64/base64url. Returns null when the text is neither.
 * Hex is tried first: a 64-character hex string is the usual way to write 32 random bytes.
 */
export function decodeKeyText(text: string): Buffer | null {
  if (/^(?:[0-9a-fA-F]{2})+$/.test(text)) return Buffer.from(text, "hex");
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return Buffer.from(text, "base64");
  return null;
}

/**
 * Says why a key is too weak to protect production data, or returns null when it looks like
 * `bytes.length` random bytes. Checks: known placeholders, one repeated character, too few
 * distinct byte values, a repeating pattern (the bytes compress), an arithmetic sequence.
 * These are heuristics against human-made keys; they cannot prove randomness.
 */
export function describeKeyWeakness(text: string, bytes: Buffer): string | null {
  const placeholder = describePlaceholder(text);
  if (placeholder !== null) return placeholder;
  if (bytes.length < MIN_KEY_BYTES) {
    return `decodes to ${bytes.length} bytes; at least ${MIN_KEY_BYTES} random bytes are required`;
  }
  const distinct = new Set(bytes).size;
  const expectedDistinct = 256 * (1 - (255 / 256) ** bytes.length);
  if (distinct < 0.6 * expectedDistinct) return "has too little entropy (too few distinct bytes)";
  // Random bytes do not compress; a key with a repeating pattern does.
  if (deflateRawSync(bytes, { level: 9 }).length < bytes.length * 0.8) {
    return "has too little entropy (it repeats a pattern)";
  }
  if (isMostlyArithmeticSequence(bytes)) return "has too little entropy (it is a sequence)";
  return null;
}

/**
 * Says why `text` looks made by a person rather than generated — a known placeholder, a
 * placeholder word, one repeated character — or returns null. For any secret given as text,
 * whatever its encoding.
 */
export function describePlaceholder(text: string): string | null {
  const lowered = text.toLowerCase();
  if (EXACT_PLACEHOLDERS.has(lowered)) return "is a well-known placeholder value";
  if (PLACEHOLDER_WORDS.some((word) => lowered.includes(word))) {
    return "contains a placeholder word; generate a random key";
  }
  if (/^(.)\1*$/s.test(text)) return "is a single repeated character";
  return null;
}

function isMostlyArithmeticSequence(bytes: Buffer): boolean {
  let steady = 0;
  for (let i = 2; i < bytes.length; i++) {
    const step = ((bytes[i] ?? 0) - (bytes[i - 1] ?? 0) + 256) % 256;
    const previousStep = ((bytes[i - 1] ?? 0) - (bytes[i - 2] ?? 0) + 256) % 256;
    if (step === previousStep) steady++;
  }
  return steady > bytes.length / 2;
}

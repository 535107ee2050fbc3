/**
 * Share-link encryption for Node (`strongroom share`): the same format, byte for byte, as the
 * browser's src/web/static/share.js, so a link made on an operator's machine opens in the
 * viewer's browser like one made on the web page. The server never sees the key: it travels
 * in the link's fragment, which browsers never send.
 *
 * Ciphertext format, version 1:
 *   byte 0     format version: 1
 *   byte 1     flags: bit 0 set when a passphrase is needed as well as the link
 *   16 bytes   PBKDF2 salt (only when a passphrase is needed)
 *   12 bytes   AES-GCM nonce
 *   the rest   AES-256-GCM ciphertext and tag of the UTF-8 text "NAME\nVALUE", with the
 *              bytes before the nonce (version, flags, salt) as additional data
 * Key: 32 random bytes K from the link. With a passphrase P, the AES key is
 *   HKDF-SHA-256(ikm = K, salt = PBKDF2-SHA-256(P, salt, 600 000 iterations, 32 bytes),
 *                info = "strongroom share v1").
 * Fragment: base64url(K), followed by ".p" when a passphrase is needed.
 *
 * WebCrypto (node:crypto's `webcrypto.subtle`) rather than createCipheriv, so each step reads
 * as the same call share.js makes. A change here is a change of the format: change both files
 * and the version byte together.
 */
import { webcrypto } from "node:crypto";
import { randomKeyBytes } from "../lib/random.js";

/** The format version written in byte 0. */
export const SHARE_FORMAT_VERSION = 1;
/** Flag bit in byte 1: a passphrase is needed as well as the link. */
export const SHARE_FLAG_PASSPHRASE = 1;
/** PBKDF2-SHA-256 iterations applied to a passphrase (OWASP's 2023 figure for SHA-256). */
export const SHARE_PBKDF2_ITERATIONS = 600_000;
/** PBKDF2 salt, present only with a passphrase. */
export const SHARE_SALT_BYTES = 16;
/** AES-GCM nonce. */
export const SHARE_NONCE_BYTES = 12;
/** The link's key K, and the AES-256 key. */
export const SHARE_KEY_BYTES = 32;
/** What the ".p" at the end of a fragment says: ask for the passphrase first. */
const PASSPHRASE_MARKER = "p";
const INFO = new TextEncoder().encode("strongroom share v1");
const { subtle } = webcrypto;

/** The AES-GCM key for one direction, from the link's key and, if any, the passphrase. */
async function aesKey(
  linkKey: Uint8Array,
  passphrase: string | null,
  salt: Uint8Array,
  usage: "encrypt" | "decrypt",
): Promise<webcrypto.CryptoKey> {
  if (passphrase === null) return subtle.importKey("raw", linkKey, "AES-GCM", false, [usage]);
  const password = await subtle.importKey(
    "raw",
    new TextEncoder().encode(passphrase),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const stretched = await subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations: SHARE_PBKDF2_ITERATIONS },
    password,
    256,
  );
  const ikm = await subtle.importKey("raw", linkKey, "HKDF", false, ["deriveKey"]);
  return subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(stretched), info: INFO },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    [usage],
  );
}

/** A link's secret half: the ciphertext for the server, the fragment for the link only. */
export interface EncryptedShare {
  /** The version-1 ciphertext, base64url without padding, as `POST …/shares` takes it. */
  ciphertext: string;
  /** base64url(K), plus ".p" when a passphrase is needed: goes after "#" in the link. */
  fragment: string;
}

/**
 * Encrypts "name\nvalue" under a new random link key (and `passphrase`, unless null) as
 * share.js's `encryptShare` does. The passphrase is used as given: the caller refuses an
 * empty one.
 */
export async function encryptShare(
  name: string,
  value: string,
  passphrase: string | null,
): Promise<EncryptedShare> {
  const linkKey = randomKeyBytes(SHARE_KEY_BYTES);
  const salt = passphrase === null ? new Uint8Array(0) : randomKeyBytes(SHARE_SALT_BYTES);
  const header = new Uint8Array(2 + salt.length);
  header[0] = SHARE_FORMAT_VERSION;
  header[1] = passphrase === null ? 0 : SHARE_FLAG_PASSPHRASE;
  header.set(salt, 2);
  const nonce = randomKeyBytes(SHARE_NONCE_BYTES);
  const key = await aesKey(linkKey, passphrase, salt, "encrypt");
  const plaintext = new TextEncoder().encode(`${name}\n${value}`);
  const sealed = new Uint8Array(
    await subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: header }, key, plaintext),
  );
  plaintext.fill(0);
  const out = Buffer.concat([header, nonce, sealed]);
  const fragment =
    linkKey.toString("base64url") + (passphrase === null ? "" : `.${PASSPHRASE_MARKER}`);
  linkKey.fill(0);
  return { ciphertext: out.toString("base64url"), fragment };
}

/** Whether a ciphertext needs a passphrase (from its flags). */
export function shareNeedsPassphrase(bytes: Uint8Array): boolean {
  return bytes.length > 1 && ((bytes[1] ?? 0) & SHARE_FLAG_PASSPHRASE) !== 0;
}

/**
 * A link's fragment (the part after "#") as its key and whether it asks for a passphrase;
 * null when it is not a 32-byte base64url key with an optional ".p".
 */
export function parseShareFragment(
  fragment: string,
): { linkKey: Buffer; needsPassphrase: boolean } | null {
  const match = /^([A-Za-z0-9_-]{43})(?:\.(p))?$/.exec(fragment);
  if (match === null) return null;
  const linkKey = Buffer.from(match[1] as string, "base64url");
  if (linkKey.length !== SHARE_KEY_BYTES) return null;
  return { linkKey, needsPassphrase: match[2] === PASSPHRASE_MARKER };
}

/**
 * Decrypts a version-1 ciphertext as share.js's `decryptShare` does. `passphrase` is ignored
 * when the ciphertext needs none.
 * @throws Error for an unknown version or a missing passphrase; the DOMException
 *   `OperationError` for a wrong key or passphrase or any damage; TypeError when the text is
 *   not UTF-8.
 */
export async function decryptShare(
  bytes: Uint8Array,
  linkKey: Uint8Array,
  passphrase: string | null,
): Promise<{ name: string; value: string }> {
  if (bytes[0] !== SHARE_FORMAT_VERSION) throw new Error("unknown share format");
  const saltLength = shareNeedsPassphrase(bytes) ? SHARE_SALT_BYTES : 0;
  if (saltLength !== 0 && passphrase === null) throw new Error("the link needs its passphrase");
  const header = bytes.subarray(0, 2 + saltLength);
  const nonce = bytes.subarray(header.length, header.length + SHARE_NONCE_BYTES);
  const sealed = bytes.subarray(header.length + SHARE_NONCE_BYTES);
  const key = await aesKey(
    linkKey,
    saltLength === 0 ? null : passphrase,
    header.subarray(2),
    "decrypt",
  );
  const plaintext = new Uint8Array(
    await subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: header }, key, sealed),
  );
  const text = new TextDecoder("utf-8", { fatal: true }).decode(plaintext);
  plaintext.fill(0);
  const newline = text.indexOf("\n");
  return { name: text.slice(0, newline), value: text.slice(newline + 1) };
}

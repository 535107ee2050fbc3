import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import type { MasterKey } from "../config/keys.js";

/**
 * Envelope encryption (SPEC §3, "encryption of sensitive data"). Every value gets its own fresh
 * 256-bit data key (DEK); the value is sealed with AES-256-GCM under the DEK, and the DEK is
 * sealed (wrapped) with AES-256-GCM under the current master key (KEK). Why two layers:
 *
 * - Rotating a master key only rewraps 60-byte DEKs; value ciphertexts are never touched.
 * - A KEK encrypts only random 32-byte keys, so a KEK never sees attacker-chosen plaintext and
 *   its random-nonce budget (NIST SP 800-38D: 2^32 messages per key) counts DEKs, not values.
 * - Shredding a value means destroying one small wrapped key.
 *
 * Layouts: `wrappedKey` is nonce(12) ‖ ciphertext(32) ‖ tag(16); `ciphertext` is
 * ciphertext ‖ tag(16). The GCM tag is always the full 128 bits and is always placed last.
 */

/** Length of AES-256 keys (DEK and KEK), in bytes. */
const KEY_BYTES = 32;
/** GCM nonce length, in bytes: 96 bits, the only size GCM handles without extra hashing. */
export const GCM_NONCE_BYTES = 12;
/** GCM tag length, in bytes: the full 128 bits. */
export const GCM_TAG_BYTES = 16;
/** Length of `Envelope.wrappedKey`, in bytes: nonce ‖ encrypted DEK ‖ tag. */
export const WRAPPED_KEY_BYTES = GCM_NONCE_BYTES + KEY_BYTES + GCM_TAG_BYTES;
/** Format version written as the first byte by `packEnvelope`. */
const PACK_VERSION = 1;
/** Key ids are at most 255 UTF-8 bytes so that their length fits in one byte of a packed blob. */
const MAX_KEY_ID_BYTES = 255;

/** One encrypted value: what must be stored to decrypt it again (all parts are public). */
export interface Envelope {
  /** Id of the master key that wrapped the data key. */
  keyId: string;
  /** The data key sealed under the master key: nonce ‖ ciphertext ‖ tag (60 bytes). */
  wrappedKey: Buffer;
  /** The value's GCM nonce (12 bytes). */
  nonce: Buffer;
  /** The value sealed under the data key: ciphertext ‖ tag (plaintext length + 16 bytes). */
  ciphertext: Buffer;
}

/**
 * Any failure to decrypt: unknown key id, a tampered or truncated part, the wrong associated
 * data, a malformed packed blob. The message is fixed and names no step, so an attacker who
 * can submit ciphertexts learns nothing about which check failed (no padding-oracle-style
 * distinctions), and logs carry no key or value material.
 */
export class DecryptionError extends Error {
  constructor() {
    super("decryption failed");
    this.name = "DecryptionError";
  }
}

/**
 * AES-256-GCM encryption as used by every layer here: returns ciphertext ‖ 128-bit tag.
 * Exported so the known-answer test can prove the call pattern (key, nonce, aad, tag
 * placement) against the published GCM vectors. Throws if the key is not 32 bytes or the
 * nonce not 12. The caller must never reuse a nonce with the same key.
 */
export function sealAesGcm(key: Buffer, nonce: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  assertLength(key, KEY_BYTES, "key");
  assertLength(nonce, GCM_NONCE_BYTES, "nonce");
  const cipher = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_BYTES });
  cipher.setAAD(aad);
  const parts = [cipher.update(plaintext), cipher.final(), cipher.getAuthTag()];
  return Buffer.concat(parts);
}

/**
 * Inverse of `sealAesGcm`: checks the tag over `aad` and the ciphertext and returns the
 * plaintext. Throws `DecryptionError` on any mismatch or malformed input.
 */
export function openAesGcm(key: Buffer, nonce: Buffer, sealed: Buffer, aad: Buffer): Buffer {
  if (
    key.length !== KEY_BYTES ||
    nonce.length !== GCM_NONCE_BYTES ||
    sealed.length < GCM_TAG_BYTES
  ) {
    throw new DecryptionError();
  }
  const tagStart = sealed.length - GCM_TAG_BYTES;
  try {
    // authTagLength pins the tag to 128 bits: without it Node accepts tags as short as 4 bytes,
    // which would let a forger truncate the tag and brute-force the rest.
    const decipher = createDecipheriv("aes-256-gcm", key, nonce, { authTagLength: GCM_TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(tagStart));
    const head = decipher.update(sealed.subarray(0, tagStart));
    const tail = decipher.final(); // throws here if the tag does not verify
    const plaintext = Buffer.concat([head, tail]);
    wipe(head); // the parts are copies of the plaintext that would otherwise linger
    wipe(tail);
    return plaintext;
  } catch {
    throw new DecryptionError();
  }
}

/**
 * Encrypts `plaintext` under a fresh data key wrapped by the current (first) master key of
 * `keyring`. `aad` names where the value belongs (e.g. `secret:<id>:v3`, `totp:<userId>`) and
 * must be given again to decrypt, so a ciphertext copied into another row does not decrypt.
 * Throws `Error` if the keyring is empty or a key is not 32 bytes.
 */
export function encryptEnvelope(
  keyring: readonly MasterKey[],
  plaintext: Buffer,
  aad: string,
): Envelope {
  const kek = currentKey(keyring);
  const dek = randomBytes(KEY_BYTES);
  try {
    const nonce = randomBytes(GCM_NONCE_BYTES);
    const ciphertext = sealAesGcm(dek, nonce, plaintext, Buffer.from(aad, "utf8"));
    return { keyId: kek.id, wrappedKey: wrapDataKey(kek, dek), nonce, ciphertext };
  } finally {
    wipe(dek);
  }
}

/**
 * Decrypts an envelope made by `encryptEnvelope` with the same `aad`. The master key is found
 * by id among all keys of `keyring` (old keys stay usable until every envelope is rewrapped).
 * Throws `DecryptionError` on an unknown key id, any tampering, or the wrong `aad`.
 */
export function decryptEnvelope(
  keyring: readonly MasterKey[],
  envelope: Envelope,
  aad: string,
): Buffer {
  if (envelope.nonce.length !== GCM_NONCE_BYTES || envelope.ciphertext.length < GCM_TAG_BYTES) {
    throw new DecryptionError();
  }
  const dek = unwrapDataKey(keyring, envelope);
  try {
    return openAesGcm(dek, envelope.nonce, envelope.ciphertext, Buffer.from(aad, "utf8"));
  } finally {
    wipe(dek);
  }
}

/**
 * Key rotation: unwraps the data key with the master key that wrapped it and wraps it again
 * under the current one. The value's nonce and ciphertext are unchanged (returned as copies),
 * so no `aad` is needed. An envelope already under the current key is returned as a copy
 * without work. Throws `DecryptionError` if the old key is gone or the wrapped key was altered;
 * `Error` if the keyring is empty.
 */
export function rewrapEnvelope(keyring: readonly MasterKey[], envelope: Envelope): Envelope {
  const kek = currentKey(keyring);
  const copy = {
    nonce: Buffer.from(envelope.nonce),
    ciphertext: Buffer.from(envelope.ciphertext),
  };
  if (envelope.keyId === kek.id) {
    return { keyId: envelope.keyId, wrappedKey: Buffer.from(envelope.wrappedKey), ...copy };
  }
  const dek = unwrapDataKey(keyring, envelope);
  try {
    return { keyId: kek.id, wrappedKey: wrapDataKey(kek, dek), ...copy };
  } finally {
    wipe(dek);
  }
}

/**
 * Whether the envelope was wrapped by a key other than the current (first) one of `keyring`,
 * so `rewrapEnvelope` should run before the old key can be retired. Throws `Error` if the
 * keyring is empty.
 */
export function needsRewrap(keyring: readonly MasterKey[], envelope: Envelope): boolean {
  return envelope.keyId !== currentKey(keyring).id;
}

/**
 * One self-describing blob for single-column storage (e.g. a TOTP secret):
 * version(1) ‖ key id length(1) ‖ key id (UTF-8) ‖ wrapped key(60) ‖ nonce(12) ‖ ciphertext.
 * Throws `Error` if the envelope's parts have impossible lengths (a programming error).
 */
export function packEnvelope(envelope: Envelope): Buffer {
  const keyId = Buffer.from(envelope.keyId, "utf8");
  if (keyId.length === 0 || keyId.length > MAX_KEY_ID_BYTES) {
    throw new Error(`key id must be 1–${MAX_KEY_ID_BYTES} bytes`);
  }
  if (
    envelope.wrappedKey.length !== WRAPPED_KEY_BYTES ||
    envelope.nonce.length !== GCM_NONCE_BYTES ||
    envelope.ciphertext.length < GCM_TAG_BYTES
  ) {
    throw new Error("envelope parts have invalid lengths");
  }
  const header = Buffer.from([PACK_VERSION, keyId.length]);
  return Buffer.concat([header, keyId, envelope.wrappedKey, envelope.nonce, envelope.ciphertext]);
}

/**
 * Parses a blob written by `packEnvelope`, checking the version and every length. Throws
 * `DecryptionError` on anything malformed (the blob is read back from storage, so treat it
 * as untrusted). The returned buffers are copies.
 */
export function unpackEnvelope(blob: Buffer): Envelope {
  const idLength = blob[1];
  if (blob[0] !== PACK_VERSION || idLength === undefined || idLength === 0) {
    throw new DecryptionError();
  }
  const wrapStart = 2 + idLength;
  const nonceStart = wrapStart + WRAPPED_KEY_BYTES;
  const ciphertextStart = nonceStart + GCM_NONCE_BYTES;
  if (blob.length < ciphertextStart + GCM_TAG_BYTES) throw new DecryptionError();
  let keyId: string;
  try {
    keyId = new TextDecoder("utf-8", { fatal: true }).decode(blob.subarray(2, wrapStart));
  } catch {
    throw new DecryptionError();
  }
  return {
    keyId,
    wrappedKey: Buffer.from(blob.subarray(wrapStart, nonceStart)),
    nonce: Buffer.from(blob.subarray(nonceStart, ciphertextStart)),
    ciphertext: Buffer.from(blob.subarray(ciphertextStart)),
  };
}

/**
 * Associated data of the DEK wrap: binds the wrapped key to the id of the KEK, so an envelope
 * relabelled with another key id fails even if two ids were configured with the same bytes.
 * The prefix keeps this use of the KEK apart from any other use of AES-GCM under it.
 */
function wrapAad(keyId: string): Buffer {
  return Buffer.from(`strongroom:dek:${keyId}`, "utf8");
}

function wrapDataKey(kek: MasterKey, dek: Buffer): Buffer {
  const nonce = randomBytes(GCM_NONCE_BYTES);
  const sealed = sealAesGcm(kek.key.reveal(), nonce, dek, wrapAad(kek.id));
  return Buffer.concat([nonce, sealed]);
}

/** The DEK of `envelope`; the caller must `wipe` it. Throws `DecryptionError`. */
function unwrapDataKey(keyring: readonly MasterKey[], envelope: Envelope): Buffer {
  const kek = keyring.find((key) => key.id === envelope.keyId);
  if (kek === undefined || envelope.wrappedKey.length !== WRAPPED_KEY_BYTES) {
    throw new DecryptionError();
  }
  const nonce = envelope.wrappedKey.subarray(0, GCM_NONCE_BYTES);
  const sealed = envelope.wrappedKey.subarray(GCM_NONCE_BYTES);
  const dek = openAesGcm(kek.key.reveal(), nonce, sealed, wrapAad(kek.id));
  if (dek.length !== KEY_BYTES) {
    wipe(dek);
    throw new DecryptionError();
  }
  return dek;
}

function currentKey(keyring: readonly MasterKey[]): MasterKey {
  const key = keyring[0];
  if (key === undefined) throw new Error("the master keyring is empty");
  return key;
}

function assertLength(buffer: Buffer, length: number, name: string): void {
  if (buffer.length !== length) throw new Error(`AES-256-GCM ${name} must be ${length} bytes`);
}

/**
 * Overwrites key material once it is no longer needed. Best effort only: the JavaScript heap
 * may hold other copies (OpenSSL keeps its own, the GC may have moved bytes), but zeroing our
 * buffers shortens how long a DEK sits in memory that a core dump, swap file or heap snapshot
 * could expose.
 */
function wipe(buffer: Buffer): void {
  buffer.fill(0);
}

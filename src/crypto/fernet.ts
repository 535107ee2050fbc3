import { createDecipheriv, createHmac, timingSafeEqual } from "node:crypto";

/**
 * Fernet (https://github.com/fernet/spec), as Python's `cryptography` writes it, for
 * importing secrets from Flask apps. Decryption only: Strongroom never writes Fernet.
 * token = base64url( 0x80 ‖ timestamp (8) ‖ IV (16) ‖ AES-128-CBC ciphertext ‖ HMAC-SHA256 (32) )
 * key   = base64url( signing key (16) ‖ encryption key (16) )
 */

/** A token that is malformed, forged, or for another key. The reason is safe to show. */
export class FernetError extends Error {
  override name = "FernetError";
}

const VERSION = 0x80;
const HEADER_BYTES = 1 + 8 + 16;
const MAC_BYTES = 32;
/** Longest token accepted: a 64 KiB secret plus padding and framing, base64url. */
const MAX_TOKEN_CHARS = 100_000;

function base64url(text: string, what: string): Buffer {
  if (!/^[A-Za-z0-9_-]+={0,2}$/.test(text)) throw new FernetError(`${what} is not base64url`);
  return Buffer.from(text, "base64url");
}

/** Decodes a Fernet key (32 bytes, base64url). */
export function parseFernetKey(text: string): { signing: Buffer; encryption: Buffer } {
  const key = base64url(text.trim(), "the key");
  if (key.length !== 32) throw new FernetError("the key must decode to 32 bytes");
  return { signing: key.subarray(0, 16), encryption: key.subarray(16) };
}

/**
 * Decrypts one token. The HMAC is checked, in constant time, before anything is decrypted;
 * the token's timestamp is not checked against a lifetime (imports move old data on purpose).
 * @throws FernetError for a malformed token, a wrong key or any tampering.
 */
export function decryptFernet(key: { signing: Buffer; encryption: Buffer }, token: string): Buffer {
  if (token.length > MAX_TOKEN_CHARS) throw new FernetError("the token is too long");
  const data = base64url(token.trim(), "the token");
  if (
    data.length < HEADER_BYTES + 16 + MAC_BYTES ||
    (data.length - HEADER_BYTES - MAC_BYTES) % 16 !== 0
  ) {
    throw new FernetError("the token has the wrong length");
  }
  if (data[0] !== VERSION) throw new FernetError("the token is not Fernet version 0x80");
  const signed = data.subarray(0, data.length - MAC_BYTES);
  const mac = data.subarray(data.length - MAC_BYTES);
  const expected = createHmac("sha256", key.signing).update(signed).digest();
  if (!timingSafeEqual(mac, expected))
    throw new FernetError("the token does not verify with this key");
  const iv = data.subarray(9, HEADER_BYTES);
  try {
    const decipher = createDecipheriv("aes-128-cbc", key.encryption, iv);
    return Buffer.concat([decipher.update(signed.subarray(HEADER_BYTES)), decipher.final()]);
  } catch {
    throw new FernetError("the token does not decrypt");
  }
}

import type { MasterKey } from "../config/keys.js";
import {
  decryptEnvelope,
  encryptEnvelope,
  packEnvelope,
  unpackEnvelope,
} from "../crypto/envelope.js";

/** Associated data binding a TOTP secret to its user: a blob copied to another row fails. */
function aad(userId: string): string {
  return `totp:${userId}`;
}

/** Encrypts a TOTP secret (base32) for storage, under the current master key. */
export function sealTotpSecret(
  keyring: readonly MasterKey[],
  userId: string,
  secret: string,
): Buffer {
  return packEnvelope(encryptEnvelope(keyring, Buffer.from(secret, "utf8"), aad(userId)));
}

/** Decrypts a stored TOTP secret; throws DecryptionError when it was tampered with. */
export function openTotpSecret(
  keyring: readonly MasterKey[],
  userId: string,
  sealed: Buffer,
): string {
  return decryptEnvelope(keyring, unpackEnvelope(sealed), aad(userId)).toString("utf8");
}

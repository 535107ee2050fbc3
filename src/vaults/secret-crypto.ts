import type { MasterKey } from "../config/keys.js";
import type { Envelope } from "../crypto/envelope.js";
import {
  decryptEnvelope,
  encryptEnvelope,
  needsRewrap,
  packEnvelope,
  rewrapEnvelope,
  unpackEnvelope,
} from "../crypto/envelope.js";

/** Which stored version a ciphertext belongs to: bound into the AES-GCM associated data. */
export interface SecretVersionIdentity {
  vaultId: string;
  secretId: string;
  version: number;
}

/** The encrypted columns of one `secret_versions` row. */
export interface SealedSecretVersion {
  key_id: string;
  wrapped_key: Buffer;
  nonce: Buffer;
  ciphertext: Buffer;
  /** The note as a packed envelope of its own (own data key), or null. */
  note_ciphertext: Buffer | null;
}

/**
 * Associated data for a value or a note: the row it belongs to. A ciphertext (or a whole
 * envelope) copied to another secret, vault or version fails authentication.
 */
function aad(id: SecretVersionIdentity, part: "value" | "note"): string {
  return `secret:${part}:${id.vaultId}:${id.secretId}:${id.version}`;
}

/**
 * Encrypts one version: the value under a fresh 256-bit data key (AES-256-GCM, fresh
 * nonce), the data key wrapped by the current master key; the note likewise with its own
 * data key, packed into one column.
 */
export function sealSecretVersion(
  keyring: readonly MasterKey[],
  id: SecretVersionIdentity,
  value: Buffer,
  note: Buffer | null,
): SealedSecretVersion {
  const envelope = encryptEnvelope(keyring, value, aad(id, "value"));
  return {
    key_id: envelope.keyId,
    wrapped_key: envelope.wrappedKey,
    nonce: envelope.nonce,
    ciphertext: envelope.ciphertext,
    note_ciphertext:
      note === null ? null : packEnvelope(encryptEnvelope(keyring, note, aad(id, "note"))),
  };
}

function valueEnvelope(row: SealedSecretVersion): Envelope {
  return {
    keyId: row.key_id,
    wrappedKey: row.wrapped_key,
    nonce: row.nonce,
    ciphertext: row.ciphertext,
  };
}

/**
 * Decrypts one version's value and note.
 * @throws DecryptionError when a key is unknown or anything was altered or moved.
 */
export function openSecretVersion(
  keyring: readonly MasterKey[],
  id: SecretVersionIdentity,
  row: SealedSecretVersion,
): { value: Buffer; note: Buffer | null } {
  const value = decryptEnvelope(keyring, valueEnvelope(row), aad(id, "value"));
  const note =
    row.note_ciphertext === null
      ? null
      : decryptEnvelope(keyring, unpackEnvelope(row.note_ciphertext), aad(id, "note"));
  return { value, note };
}

/** True when the value's or the note's data key is wrapped by a key other than the current one. */
export function versionNeedsRewrap(
  keyring: readonly MasterKey[],
  row: SealedSecretVersion,
): boolean {
  return (
    needsRewrap(keyring, valueEnvelope(row)) ||
    (row.note_ciphertext !== null && needsRewrap(keyring, unpackEnvelope(row.note_ciphertext)))
  );
}

/**
 * Key rotation: rewraps the data keys under the current master key; the ciphertexts stay
 * as they are (readers see the same plaintext before and after).
 */
export function rewrapSecretVersion(
  keyring: readonly MasterKey[],
  row: SealedSecretVersion,
): SealedSecretVersion {
  const value = rewrapEnvelope(keyring, valueEnvelope(row));
  return {
    key_id: value.keyId,
    wrapped_key: value.wrappedKey,
    nonce: value.nonce,
    ciphertext: value.ciphertext,
    note_ciphertext:
      row.note_ciphertext === null
        ? null
        : packEnvelope(rewrapEnvelope(keyring, unpackEnvelope(row.note_ciphertext))),
  };
}

/** `keys rotate --reencrypt`: new data keys and ciphertexts for the same plaintext. */
export function reencryptSecretVersion(
  keyring: readonly MasterKey[],
  id: SecretVersionIdentity,
  row: SealedSecretVersion,
): SealedSecretVersion {
  const { value, note } = openSecretVersion(keyring, id, row);
  try {
    return sealSecretVersion(keyring, id, value, note);
  } finally {
    value.fill(0);
    note?.fill(0);
  }
}

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import type { MasterKey } from "../config/keys.js";
import { SecretBytes } from "../lib/secret-bytes.js";
import {
  DecryptionError,
  decryptEnvelope,
  type Envelope,
  encryptEnvelope,
  GCM_NONCE_BYTES,
  GCM_TAG_BYTES,
  needsRewrap,
  openAesGcm,
  packEnvelope,
  rewrapEnvelope,
  sealAesGcm,
  unpackEnvelope,
  WRAPPED_KEY_BYTES,
} from "./envelope.js";

function masterKey(id: string, bytes: Buffer = randomBytes(32)): MasterKey {
  return { id, key: new SecretBytes(bytes) };
}

const oldKey = masterKey("k1");
const newKey = masterKey("k2");
const AAD = "secret:0b5e:v3";
const PLAINTEXT = Buffer.from("postgres://app:correct horse battery staple@db/app", "utf8");

function clone(envelope: Envelope): Envelope {
  return {
    keyId: envelope.keyId,
    wrappedKey: Buffer.from(envelope.wrappedKey),
    nonce: Buffer.from(envelope.nonce),
    ciphertext: Buffer.from(envelope.ciphertext),
  };
}

function flipBit(buffer: Buffer, index: number): Buffer {
  const copy = Buffer.from(buffer);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

function assertDecryptionError(run: () => unknown): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof DecryptionError);
    assert.equal(error.message, "decryption failed");
    return true;
  });
}

describe("AES-256-GCM call pattern (known answer)", () => {
  // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Test Case 16: 256-bit key,
  // 96-bit IV, 60-byte plaintext, 20 bytes of AAD. Proves key, IV, AAD and tag placement.
  const key = Buffer.from(
    "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
    "hex",
  );
  const iv = Buffer.from("cafebabefacedbaddecaf888", "hex");
  const aad = Buffer.from("feedfacedeadbeeffeedfacedeadbeefabaddad2", "hex");
  const plaintext = Buffer.from(
    "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72" +
      "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    "hex",
  );
  const ciphertext =
    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa" +
    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662";
  const tag = "76fc6ece0f4e1768cddf8853bb2d551b";

  it("seals to ciphertext ‖ tag exactly as the specification says", () => {
    assert.equal(sealAesGcm(key, iv, plaintext, aad).toString("hex"), ciphertext + tag);
  });

  it("opens the published ciphertext and tag", () => {
    const sealed = Buffer.from(ciphertext + tag, "hex");
    assert.deepEqual(openAesGcm(key, iv, sealed, aad), plaintext);
  });

  it("refuses the published ciphertext with a changed tag, AAD or truncated tag", () => {
    const sealed = Buffer.from(ciphertext + tag, "hex");
    assertDecryptionError(() => openAesGcm(key, iv, flipBit(sealed, sealed.length - 1), aad));
    assertDecryptionError(() => openAesGcm(key, iv, sealed, flipBit(aad, 0)));
    // A 4-byte tag would be accepted by a decipher without authTagLength; ours must refuse.
    const shortTag = Buffer.from(ciphertext + tag.slice(0, 8), "hex");
    assertDecryptionError(() => openAesGcm(key, iv, shortTag, aad));
  });

  it("refuses keys and nonces of the wrong size when sealing", () => {
    assert.throws(() => sealAesGcm(key.subarray(0, 16), iv, plaintext, aad), /key must be 32/);
    assert.throws(() => sealAesGcm(key, Buffer.alloc(16), plaintext, aad), /nonce must be 12/);
  });
});

describe("encryptEnvelope / decryptEnvelope", () => {
  it("round-trips a value, including an empty one and a 64 KiB one", () => {
    for (const value of [PLAINTEXT, Buffer.alloc(0), randomBytes(64 * 1024)]) {
      const envelope = encryptEnvelope([oldKey], value, AAD);
      assert.deepEqual(decryptEnvelope([oldKey], envelope, AAD), value);
    }
  });

  it("produces the documented layout: wrapped DEK under the KEK, value under the DEK", () => {
    const envelope = encryptEnvelope([oldKey], PLAINTEXT, AAD);
    assert.equal(envelope.keyId, "k1");
    assert.equal(envelope.wrappedKey.length, WRAPPED_KEY_BYTES);
    assert.equal(envelope.nonce.length, GCM_NONCE_BYTES);
    assert.equal(envelope.ciphertext.length, PLAINTEXT.length + GCM_TAG_BYTES);
    // Undo both layers by hand with the primitive, proving nonce ‖ ciphertext ‖ tag placement
    // and the associated data of each layer.
    const dek = openAesGcm(
      oldKey.key.reveal(),
      envelope.wrappedKey.subarray(0, GCM_NONCE_BYTES),
      envelope.wrappedKey.subarray(GCM_NONCE_BYTES),
      Buffer.from("strongroom:dek:k1"),
    );
    assert.equal(dek.length, 32);
    assert.deepEqual(
      openAesGcm(dek, envelope.nonce, envelope.ciphertext, Buffer.from(AAD)),
      PLAINTEXT,
    );
    assert.equal(envelope.ciphertext.includes(PLAINTEXT.subarray(0, 8)), false);
  });

  it("uses a fresh data key and fresh nonces on every call", () => {
    const envelopes = Array.from({ length: 50 }, () => encryptEnvelope([oldKey], PLAINTEXT, AAD));
    const distinct = (parts: Buffer[]): number => new Set(parts.map((b) => b.toString("hex"))).size;
    assert.equal(distinct(envelopes.map((e) => e.nonce)), 50);
    assert.equal(distinct(envelopes.map((e) => e.wrappedKey.subarray(0, GCM_NONCE_BYTES))), 50);
    assert.equal(distinct(envelopes.map((e) => e.ciphertext)), 50);
    const deks = envelopes.map((e) =>
      openAesGcm(
        oldKey.key.reveal(),
        e.wrappedKey.subarray(0, GCM_NONCE_BYTES),
        e.wrappedKey.subarray(GCM_NONCE_BYTES),
        Buffer.from("strongroom:dek:k1"),
      ),
    );
    assert.equal(distinct(deks), 50);
  });

  it("throws a plain Error when the keyring is empty", () => {
    assert.throws(
      () => encryptEnvelope([], PLAINTEXT, AAD),
      (error: unknown) => error instanceof Error && !(error instanceof DecryptionError),
    );
  });

  describe("refuses every kind of tampering with DecryptionError", () => {
    const envelope = encryptEnvelope([oldKey, newKey], PLAINTEXT, AAD);
    const ring = [oldKey, newKey];

    for (const part of ["wrappedKey", "nonce", "ciphertext"] as const) {
      it(`a flipped bit anywhere in ${part}`, () => {
        for (let index = 0; index < envelope[part].length; index += 1) {
          const tampered = clone(envelope);
          tampered[part] = flipBit(envelope[part], index);
          assertDecryptionError(() => decryptEnvelope(ring, tampered, AAD));
        }
      });

      it(`a truncated or extended ${part}`, () => {
        const shorter = clone(envelope);
        shorter[part] = envelope[part].subarray(0, envelope[part].length - 1);
        assertDecryptionError(() => decryptEnvelope(ring, shorter, AAD));
        const longer = clone(envelope);
        longer[part] = Buffer.concat([envelope[part], Buffer.from([0])]);
        assertDecryptionError(() => decryptEnvelope(ring, longer, AAD));
      });
    }

    it("the wrong associated data (a ciphertext moved to another row)", () => {
      assertDecryptionError(() => decryptEnvelope(ring, envelope, "secret:0b5e:v4"));
      assertDecryptionError(() => decryptEnvelope(ring, envelope, "secret:other:v3"));
      assertDecryptionError(() => decryptEnvelope(ring, envelope, ""));
    });

    it("an unknown key id", () => {
      assertDecryptionError(() => decryptEnvelope(ring, { ...envelope, keyId: "k9" }, AAD));
      assertDecryptionError(() => decryptEnvelope([], envelope, AAD));
    });

    it("a key id swapped for another key's", () => {
      assertDecryptionError(() => decryptEnvelope(ring, { ...envelope, keyId: "k2" }, AAD));
    });

    it("a key id swapped for an alias of the same key bytes (the id is bound)", () => {
      const alias = masterKey("alias", oldKey.key.reveal());
      const sealed = encryptEnvelope([oldKey], PLAINTEXT, AAD);
      assertDecryptionError(() =>
        decryptEnvelope([oldKey, alias], { ...sealed, keyId: "alias" }, AAD),
      );
    });

    it("a wrapped key and value taken from two different envelopes", () => {
      const other = encryptEnvelope(ring, PLAINTEXT, AAD);
      const mixed = { ...envelope, wrappedKey: other.wrappedKey };
      assertDecryptionError(() => decryptEnvelope(ring, mixed, AAD));
    });
  });
});

describe("key rotation", () => {
  it("decrypts with an old key that is still in the ring", () => {
    const envelope = encryptEnvelope([oldKey], PLAINTEXT, AAD);
    assert.deepEqual(decryptEnvelope([newKey, oldKey], envelope, AAD), PLAINTEXT);
  });

  it("reports when a rewrap is due", () => {
    const envelope = encryptEnvelope([oldKey], PLAINTEXT, AAD);
    assert.equal(needsRewrap([oldKey], envelope), false);
    assert.equal(needsRewrap([newKey, oldKey], envelope), true);
    assert.throws(() => needsRewrap([], envelope), /empty/);
  });

  it("rewraps under the current key without touching the value ciphertext", () => {
    const envelope = encryptEnvelope([oldKey], PLAINTEXT, AAD);
    const ring = [newKey, oldKey];
    const rewrapped = rewrapEnvelope(ring, envelope);
    assert.equal(rewrapped.keyId, "k2");
    assert.equal(needsRewrap(ring, rewrapped), false);
    assert.deepEqual(rewrapped.nonce, envelope.nonce);
    assert.deepEqual(rewrapped.ciphertext, envelope.ciphertext);
    assert.notDeepEqual(rewrapped.wrappedKey, envelope.wrappedKey);
    assert.deepEqual(decryptEnvelope(ring, rewrapped, AAD), PLAINTEXT);
  });

  it("keeps working after the old key is retired only if the envelope was rewrapped", () => {
    const rewrappedLater = encryptEnvelope([oldKey], PLAINTEXT, AAD);
    const leftBehind = encryptEnvelope([oldKey], PLAINTEXT, AAD);
    const rewrapped = rewrapEnvelope([newKey, oldKey], rewrappedLater);
    const retired = [newKey];
    assert.deepEqual(decryptEnvelope(retired, rewrapped, AAD), PLAINTEXT);
    assertDecryptionError(() => decryptEnvelope(retired, leftBehind, AAD));
    assertDecryptionError(() => rewrapEnvelope(retired, leftBehind));
  });

  it("returns an envelope already under the current key unchanged (as a copy)", () => {
    const envelope = encryptEnvelope([newKey], PLAINTEXT, AAD);
    const same = rewrapEnvelope([newKey, oldKey], envelope);
    assert.deepEqual(same, envelope);
    assert.notEqual(same.wrappedKey, envelope.wrappedKey);
  });

  it("refuses to rewrap a tampered wrapped key", () => {
    const envelope = encryptEnvelope([oldKey], PLAINTEXT, AAD);
    const tampered = { ...envelope, wrappedKey: flipBit(envelope.wrappedKey, 20) };
    assertDecryptionError(() => rewrapEnvelope([newKey, oldKey], tampered));
  });
});

describe("packEnvelope / unpackEnvelope", () => {
  const envelope = encryptEnvelope([oldKey], PLAINTEXT, "totp:user-1");

  it("round-trips and still decrypts", () => {
    const blob = packEnvelope(envelope);
    assert.equal(blob[0], 1);
    assert.equal(blob[1], 2);
    assert.equal(blob.subarray(2, 4).toString(), "k1");
    assert.equal(
      blob.length,
      2 + 2 + WRAPPED_KEY_BYTES + GCM_NONCE_BYTES + envelope.ciphertext.length,
    );
    const unpacked = unpackEnvelope(blob);
    assert.deepEqual(unpacked, envelope);
    assert.deepEqual(decryptEnvelope([oldKey], unpacked, "totp:user-1"), PLAINTEXT);
  });

  it("handles a UTF-8 key id and the longest allowed one", () => {
    for (const id of ["clé-ü", "x".repeat(255)]) {
      const sealed = encryptEnvelope([masterKey(id)], PLAINTEXT, AAD);
      assert.deepEqual(unpackEnvelope(packEnvelope(sealed)), sealed);
    }
    assert.throws(() => packEnvelope({ ...envelope, keyId: "x".repeat(256) }), /key id/);
    assert.throws(() => packEnvelope({ ...envelope, keyId: "" }), /key id/);
    assert.throws(() => packEnvelope({ ...envelope, nonce: Buffer.alloc(8) }), /lengths/);
  });

  it("refuses every truncation of a blob", () => {
    const blob = packEnvelope(envelope);
    for (let length = 0; length < blob.length; length += 1) {
      assertDecryptionError(() =>
        decryptEnvelope([oldKey], unpackEnvelope(blob.subarray(0, length)), "totp:user-1"),
      );
    }
  });

  it("refuses a wrong version, a zero-length key id, invalid UTF-8 and flipped bits", () => {
    const blob = packEnvelope(envelope);
    const withByte = (index: number, value: number): Buffer => {
      const copy = Buffer.from(blob);
      copy[index] = value;
      return copy;
    };
    assertDecryptionError(() => unpackEnvelope(withByte(0, 2)));
    assertDecryptionError(() => unpackEnvelope(withByte(0, 0)));
    assertDecryptionError(() => unpackEnvelope(withByte(1, 0)));
    assertDecryptionError(() => unpackEnvelope(withByte(2, 0xff)));
    for (let index = 1; index < blob.length; index += 1) {
      assertDecryptionError(() =>
        decryptEnvelope([oldKey], unpackEnvelope(flipBit(blob, index)), "totp:user-1"),
      );
    }
  });
});

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { decryptFernet, FernetError, parseFernetKey } from "./fernet.js";

const fixtures = JSON.parse(
  readFileSync(new URL("../../test/fixtures/fernet-tokens.json", import.meta.url), "utf8"),
) as {
  key: string;
  other_key: string;
  cases: Array<{ label: string; token: string; plaintext_b64: string }>;
};

/** The Fernet spec's own acceptance tests (github.com/fernet/spec; commits in the file). */
const spec = JSON.parse(
  readFileSync(new URL("../../test/fixtures/fernet-spec-vectors.json", import.meta.url), "utf8"),
) as {
  generate: Array<{ token: string; now: string; iv: number[]; src: string; secret: string }>;
  verify: Array<{ token: string; now: string; ttl_sec: number; src: string; secret: string }>;
  invalid: Array<{ desc: string; token: string; now: string; ttl_sec: number; secret: string }>;
};

/**
 * invalid.json cases that are invalid only because of the clock: the token is genuine, but
 * older than `ttl_sec` at `now` or dated in the future. An import moves old secrets on
 * purpose, so decryptFernet takes no lifetime and accepts them, as Python's
 * `Fernet.decrypt(token)` without a ttl does (both give the empty plaintext these encrypt).
 */
const TIME_ONLY = new Set(["far-future TS (unacceptable clock skew)", "expired TTL"]);

describe("Fernet (tokens written by Python's cryptography)", () => {
  const key = parseFernetKey(fixtures.key);

  for (const fixture of fixtures.cases) {
    it(`decrypts the ${fixture.label} token`, () => {
      assert.deepEqual(
        decryptFernet(key, fixture.token),
        Buffer.from(fixture.plaintext_b64, "base64"),
      );
    });
  }

  it("refuses another key, every flipped byte, truncation and garbage", () => {
    const token = fixtures.cases[0]?.token ?? "";
    assert.throws(() => decryptFernet(parseFernetKey(fixtures.other_key), token), FernetError);
    const bytes = Buffer.from(token, "base64url");
    for (let i = 0; i < bytes.length; i++) {
      const tampered = Buffer.from(bytes);
      tampered[i] = (tampered[i] ?? 0) ^ 0x01;
      assert.throws(
        () => decryptFernet(key, tampered.toString("base64url")),
        FernetError,
        `byte ${i}`,
      );
    }
    for (const bad of [token.slice(0, -4), "", "not*base64", "gAAAAA", `${token}${token}`]) {
      assert.throws(() => decryptFernet(key, bad), FernetError, bad.slice(0, 12));
    }
  });

  it("refuses keys that are not 32 bytes of base64url", () => {
    for (const bad of ["short", Buffer.alloc(31).toString("base64url"), "!!!"]) {
      assert.throws(() => parseFernetKey(bad), FernetError);
    }
  });
});

describe("Fernet (the specification's test vectors)", () => {
  it("decrypts every verify.json token to its src (the ttl and now are not checked)", () => {
    assert.ok(spec.verify.length > 0);
    for (const vector of spec.verify) {
      const plaintext = decryptFernet(parseFernetKey(vector.secret), vector.token);
      assert.equal(plaintext.toString("utf8"), vector.src);
    }
  });

  it("decrypts every generate.json token, whose fields are the ones it was made from", () => {
    assert.ok(spec.generate.length > 0);
    for (const vector of spec.generate) {
      const plaintext = decryptFernet(parseFernetKey(vector.secret), vector.token);
      assert.equal(plaintext.toString("utf8"), vector.src);
      const bytes = Buffer.from(vector.token, "base64url");
      assert.equal(bytes[0], 0x80);
      assert.equal(bytes.readBigUInt64BE(1), BigInt(Date.parse(vector.now) / 1000));
      assert.deepEqual([...bytes.subarray(9, 25)], vector.iv);
    }
  });

  for (const vector of spec.invalid) {
    if (TIME_ONLY.has(vector.desc)) {
      it(`accepts "${vector.desc}": invalid only by its timestamp, which an import ignores`, () => {
        const plaintext = decryptFernet(parseFernetKey(vector.secret), vector.token);
        assert.equal(plaintext.length, 0);
      });
    } else {
      it(`refuses "${vector.desc}"`, () => {
        assert.throws(
          () => decryptFernet(parseFernetKey(vector.secret), vector.token),
          FernetError,
        );
      });
    }
  }

  it("knows every time-only case by name (a renamed vector must not be skipped silently)", () => {
    const names = new Set(spec.invalid.map((vector) => vector.desc));
    for (const name of TIME_ONLY) assert.ok(names.has(name), name);
    assert.ok(spec.invalid.length - TIME_ONLY.size >= 9);
  });
});

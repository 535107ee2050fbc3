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

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import {
  generateRecoveryCodes,
  hashRecoveryCode,
  normaliseRecoveryCode,
} from "./recovery-codes.js";

const FORMAT = /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){3}$/;

describe("generateRecoveryCodes", () => {
  it("makes ten distinct, grouped codes by default", () => {
    const codes = generateRecoveryCodes();
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const code of codes) assert.match(code, FORMAT);
  });

  it("makes the number asked for, and refuses silly counts", () => {
    assert.equal(generateRecoveryCodes(1).length, 1);
    assert.equal(generateRecoveryCodes(16).length, 16);
    for (const count of [0, -1, 1.5, 101, Number.NaN]) {
      assert.throws(() => generateRecoveryCodes(count), RangeError);
    }
  });

  it("uses the whole alphabet in every position (5 random bits each, 80 in all)", () => {
    const codes = Array.from({ length: 20 }, () => generateRecoveryCodes(50)).flat();
    const compact = codes.map((code) => code.replaceAll("-", ""));
    assert.equal(new Set(compact).size, codes.length);
    for (let position = 0; position < 16; position += 1) {
      const seen = new Set(compact.map((code) => code[position]));
      assert.equal(seen.size, 32, `position ${position}`);
    }
  });

  it("never uses the letters Crockford's base32 leaves out", () => {
    for (const code of generateRecoveryCodes(100)) assert.doesNotMatch(code, /[ilou]/);
  });
});

describe("normaliseRecoveryCode", () => {
  const code = "7k2m-9xq4-hr0t-v1zb";
  const canonical = "7k2m9xq4hr0tv1zb";

  it("accepts the ways people type a code", () => {
    for (const typed of [
      code,
      canonical,
      code.toUpperCase(),
      " 7k2m 9xq4 hr0t v1zb ",
      "7K2M-9XQ4\tHR0T-V1ZB",
      "7k2m--9xq4-hr0t-v1zb",
      "7k2m-9xq4-hr0t-v1zb-",
      "7k2m-9xq4-hrOt-v1zb", // letter O for zero
      "7k2m-9xq4-hr0t-vIzb", // letter I for one
      "7k2m-9xq4-hr0t-vlzb", // letter l for one
    ]) {
      assert.equal(normaliseRecoveryCode(typed), canonical, JSON.stringify(typed));
    }
  });

  it("returns null for anything that cannot be a code", () => {
    for (const typed of [
      "",
      "7k2m-9xq4-hr0t",
      "7k2m-9xq4-hr0t-v1zbb",
      "7k2m-9xq4-hr0t-v1zu", // u is not in the alphabet
      "7k2m_9xq4_hr0t_v1zb",
      "7k2m-9xq4-hr0t-v1z!",
      "123456",
      `${"-".repeat(60)}${canonical}`,
    ]) {
      assert.equal(normaliseRecoveryCode(typed), null, JSON.stringify(typed));
    }
  });

  it("round-trips every generated code", () => {
    for (const generated of generateRecoveryCodes(50)) {
      assert.equal(normaliseRecoveryCode(generated), generated.replaceAll("-", ""));
    }
  });
});

describe("hashRecoveryCode", () => {
  it("is SHA-256 hex of the normalised code", () => {
    const expected = createHash("sha256").update("7k2m9xq4hr0tv1zb").digest("hex");
    assert.equal(hashRecoveryCode("7k2m-9xq4-hr0t-v1zb"), expected);
    assert.match(expected, /^[0-9a-f]{64}$/);
  });

  it("is the same for every typing of one code, and differs between codes", () => {
    const hash = hashRecoveryCode("7k2m-9xq4-hr0t-v1zb");
    assert.equal(hashRecoveryCode("7K2M 9XQ4 HROT VIZB"), hash);
    assert.equal(hashRecoveryCode("7k2m9xq4hr0tv1zb"), hash);
    assert.notEqual(hashRecoveryCode("7k2m-9xq4-hr0t-v1zc"), hash);
    const hashes = new Set(generateRecoveryCodes(20).map(hashRecoveryCode));
    assert.equal(hashes.size, 20);
  });

  it("throws for input that cannot be a code", () => {
    assert.throws(() => hashRecoveryCode("not a code"), TypeError);
  });
});

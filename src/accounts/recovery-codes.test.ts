import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import {
  generateRecoveryCodes,
  hashRecoveryCode,
  normaliseRecoveryCode,
  RECOVERY_CODE_BITS,
} from "./recovery-codes.js";

/** Six groups of four Crockford base32 characters: 24 × 5 = 120 bits. */
const FORMAT = /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){5}$/;

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

  it("carry at least 112 bits, so a plain hash may store them (ASVS 6.5.2)", () => {
    assert.equal(RECOVERY_CODE_BITS, 120);
    assert.ok(RECOVERY_CODE_BITS >= 112);
    for (const code of generateRecoveryCodes(20)) {
      const characters = code.replaceAll("-", "");
      assert.equal(characters.length * Math.log2(32), RECOVERY_CODE_BITS, code);
      assert.equal(code.length, 29, "readable: six groups of four");
    }
  });

  it("uses the whole alphabet in every position (5 random bits each, 120 in all)", () => {
    const codes = Array.from({ length: 20 }, () => generateRecoveryCodes(50)).flat();
    const compact = codes.map((code) => code.replaceAll("-", ""));
    assert.equal(new Set(compact).size, codes.length);
    for (let position = 0; position < 24; position += 1) {
      const seen = new Set(compact.map((code) => code[position]));
      assert.equal(seen.size, 32, `position ${position}`);
    }
  });

  it("never uses the letters Crockford's base32 leaves out", () => {
    for (const code of generateRecoveryCodes(100)) assert.doesNotMatch(code, /[ilou]/);
  });
});

describe("normaliseRecoveryCode", () => {
  const code = "7k2m-9xq4-hr0t-v1zb-c3dn-p8ws";
  const canonical = "7k2m9xq4hr0tv1zbc3dnp8ws";
  /** A code issued before 120 bits: 16 characters, 80 bits. */
  const legacy = "7k2m-9xq4-hr0t-v1zb";
  const legacyCanonical = "7k2m9xq4hr0tv1zb";

  it("accepts the ways people type a code", () => {
    for (const typed of [
      code,
      canonical,
      code.toUpperCase(),
      " 7k2m 9xq4 hr0t v1zb c3dn p8ws ",
      "7K2M-9XQ4\tHR0T-V1ZB C3DN-P8WS",
      "7k2m--9xq4-hr0t-v1zb-c3dn-p8ws",
      "7k2m-9xq4-hr0t-v1zb-c3dn-p8ws-",
      "7k2m-9xq4-hrOt-v1zb-c3dn-p8ws", // letter O for zero
      "7k2m-9xq4-hr0t-vIzb-c3dn-p8ws", // letter I for one
      "7k2m-9xq4-hr0t-vlzb-c3dn-p8ws", // letter l for one
    ]) {
      assert.equal(normaliseRecoveryCode(typed), canonical, JSON.stringify(typed));
    }
  });

  it("still accepts a 16-character code issued before 120 bits, typed any way", () => {
    for (const typed of [legacy, legacyCanonical, legacy.toUpperCase(), "7k2m 9xq4 hrOt vIzb"]) {
      assert.equal(normaliseRecoveryCode(typed), legacyCanonical, JSON.stringify(typed));
    }
  });

  it("returns null for anything that cannot be a code", () => {
    for (const typed of [
      "",
      "7k2m-9xq4-hr0t",
      "7k2m-9xq4-hr0t-v1zbb",
      "7k2m-9xq4-hr0t-v1zb-c3dn", // 20 characters: neither length
      "7k2m-9xq4-hr0t-v1zb-c3dn-p8wss",
      "7k2m-9xq4-hr0t-v1zb-c3dn-p8wu", // u is not in the alphabet
      "7k2m_9xq4_hr0t_v1zb_c3dn_p8ws",
      "7k2m-9xq4-hr0t-v1zb-c3dn-p8w!",
      "123456",
      `${"-".repeat(50)}${canonical}`,
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
    const expected = createHash("sha256").update("7k2m9xq4hr0tv1zbc3dnp8ws").digest("hex");
    assert.equal(hashRecoveryCode("7k2m-9xq4-hr0t-v1zb-c3dn-p8ws"), expected);
    assert.match(expected, /^[0-9a-f]{64}$/);
  });

  it("hashes a 16-character code as it always did, so stored hashes still match", () => {
    // The hash stored for a legacy code before 120 bits: SHA-256 of its 16 characters.
    const stored = createHash("sha256").update("7k2m9xq4hr0tv1zb").digest("hex");
    assert.equal(hashRecoveryCode("7k2m-9xq4-hr0t-v1zb"), stored);
    assert.equal(hashRecoveryCode("7K2M 9XQ4 HROT VIZB"), stored);
  });

  it("is the same for every typing of one code, and differs between codes", () => {
    const hash = hashRecoveryCode("7k2m-9xq4-hr0t-v1zb-c3dn-p8ws");
    assert.equal(hashRecoveryCode("7K2M 9XQ4 HROT VIZB C3DN P8WS"), hash);
    assert.equal(hashRecoveryCode("7k2m9xq4hr0tv1zbc3dnp8ws"), hash);
    assert.notEqual(hashRecoveryCode("7k2m-9xq4-hr0t-v1zb-c3dn-p8wt"), hash);
    const hashes = new Set(generateRecoveryCodes(20).map(hashRecoveryCode));
    assert.equal(hashes.size, 20);
  });

  it("throws for input that cannot be a code", () => {
    assert.throws(() => hashRecoveryCode("not a code"), TypeError);
  });
});

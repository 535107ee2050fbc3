import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import fc from "fast-check";
import { decodeKeyText, describeKeyWeakness } from "./key-strength.js";

describe("key strength", () => {
  it("never refuses a random 32–64 byte key, in hex, base64 or base64url", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 32, max: 64 }),
        fc.constantFrom("hex", "base64", "base64url"),
        (length, encoding) => {
          const text = randomBytes(length).toString(encoding as BufferEncoding);
          const bytes = decodeKeyText(text);
          assert.ok(bytes !== null);
          assert.equal(bytes.length, length);
          assert.equal(describeKeyWeakness(text, bytes), null, text);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("refuses keys built from a short repeated unit, whatever the unit", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 8 }), (unit) => {
        const bytes = Buffer.alloc(32);
        for (let i = 0; i < 32; i++) bytes[i] = unit[i % unit.length] ?? 0;
        assert.notEqual(describeKeyWeakness(bytes.toString("base64"), bytes), null);
      }),
    );
  });

  it("decodes hex before base64 and rejects other text", () => {
    assert.equal(decodeKeyText("00ff")?.length, 2);
    assert.deepEqual(decodeKeyText("AP8="), Buffer.from([0, 255]));
    assert.equal(decodeKeyText("not base64!"), null);
    assert.equal(decodeKeyText("spaces are not keys"), null);
  });
});

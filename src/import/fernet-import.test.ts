import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseFernetKey } from "../crypto/fernet.js";
import {
  decryptFernetExport,
  FERNET_IMPORT_MAX_ENTRIES,
  parseFernetExport,
  parseKeyText,
  readFernetKeyFile,
} from "./fernet-import.js";
import { formatBytes, ImportFileError, printableName, readImportFile } from "./import-file.js";

// The Fernet spec's own key and token (github.com/fernet/spec verify.json): "hello".
const SPEC_KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=";
const SPEC_TOKEN =
  "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==";

const tempDir = (): string => mkdtempSync(join(tmpdir(), "strongroom-import-unit-"));

describe("parseFernetExport", () => {
  it("returns the entries in file order, values untouched", () => {
    assert.deepEqual(parseFernetExport('{"B": "t1", "A": 2, "__proto__": "t3"}'), [
      ["B", "t1"],
      ["A", 2],
      ["__proto__", "t3"],
    ]);
  });

  it("refuses what is not a non-empty JSON object, or too many entries", () => {
    for (const text of ["", "nope", "[]", '"x"', "null", "3", "{}"])
      assert.throws(() => parseFernetExport(text), ImportFileError, text);
    const many = Object.fromEntries(
      Array.from({ length: FERNET_IMPORT_MAX_ENTRIES + 1 }, (_, i) => [`N${i}`, "t"]),
    );
    assert.throws(() => parseFernetExport(JSON.stringify(many)), /at most 10000/);
  });
});

describe("decryptFernetExport", () => {
  const key = parseFernetKey(SPEC_KEY);

  it("decrypts good entries and lists bad ones by name, never by value or token", () => {
    const { secrets, problems } = decryptFernetExport(key, [
      ["GOOD", SPEC_TOKEN],
      ["bad name", SPEC_TOKEN],
      ["NUMBER", 7],
      [
        "FORGED",
        `${SPEC_TOKEN.slice(0, 60)}${SPEC_TOKEN[60] === "A" ? "B" : "A"}${SPEC_TOKEN.slice(61)}`,
      ],
    ]);
    assert.deepEqual(secrets, [{ name: "GOOD", value: "hello" }]);
    assert.deepEqual(
      problems.map((p) => p.where),
      ['"bad name"', "NUMBER", "FORGED"],
    );
    for (const problem of problems) {
      assert.ok(!problem.message.includes(SPEC_TOKEN.slice(20, 40)));
      assert.ok(!problem.message.includes("hello"));
    }
  });
});

describe("Fernet keys", () => {
  it("reads a key file only its owner can read, and refuses one the group or others can", async () => {
    const dir = tempDir();
    const good = join(dir, "good.key");
    writeFileSync(good, `${SPEC_KEY}\n`, { mode: 0o600 });
    assert.deepEqual(await readFernetKeyFile(good), parseFernetKey(SPEC_KEY));
    for (const mode of [0o640, 0o604, 0o660, 0o602]) {
      const path = join(dir, `open-${mode.toString(8)}.key`);
      writeFileSync(path, SPEC_KEY);
      chmodSync(path, mode); // not through writeFileSync's mode, which the umask narrows
      await assert.rejects(readFernetKeyFile(path), /accessible by group or others/);
    }
    await assert.rejects(readFernetKeyFile(join(dir, "none.key")), /no such file/);
    const garbage = join(dir, "garbage.key");
    writeFileSync(garbage, "not a key", { mode: 0o600 });
    await assert.rejects(readFernetKeyFile(garbage), (error: Error) => {
      assert.ok(error instanceof ImportFileError);
      assert.match(error.message, /garbage\.key: the key is not base64url/);
      return true;
    });
  });

  it("names where a malformed key came from", () => {
    assert.throws(() => parseKeyText("abc", "FERNET_KEY"), /^ImportFileError: FERNET_KEY: /);
    assert.deepEqual(parseKeyText(` ${SPEC_KEY}\n`, "--key"), parseFernetKey(SPEC_KEY));
  });
});

describe("import files", () => {
  it("reads UTF-8 text without its byte order mark; refuses a larger file by size", async () => {
    const dir = tempDir();
    const path = join(dir, "f.json");
    writeFileSync(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("{}")]));
    assert.equal(await readImportFile(path, 100), "{}");
    await assert.rejects(readImportFile(path, 4), /is larger than 4 bytes/);
    writeFileSync(path, Buffer.from([0xc3, 0x28]));
    await assert.rejects(readImportFile(path, 100), /is not UTF-8 text/);
  });

  it("shows plain names as they are and anything else quoted and escaped", () => {
    assert.equal(printableName("DATABASE_URL"), "DATABASE_URL");
    assert.equal(printableName("a b"), '"a b"');
    assert.equal(printableName("x\u001b[2Jy"), '"x\\u{1b}[2Jy"');
    assert.equal(printableName("e\u202eviL"), '"e\\u{202e}viL"');
    assert.equal(printableName('say "hi"'), '"say \\u{22}hi\\u{22}"');
    assert.equal(printableName(""), '""');
    assert.equal(printableName("N".repeat(100)), `"${"N".repeat(64)}"…`);
  });

  it("formats byte limits for people", () => {
    assert.equal(formatBytes(64 * 1024 * 1024), "64 MiB");
    assert.equal(formatBytes(512 * 1024), "512 KiB");
    assert.equal(formatBytes(100), "100 bytes");
  });
});

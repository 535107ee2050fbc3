import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { hash as argon2Hash } from "@node-rs/argon2";
import { argon2TasksCompleted } from "./argon2-pool.js";
import { identifyPasswordHash } from "./legacy-passwords.js";
import {
  type Argon2Parameters,
  burnVerification,
  DEFAULT_ARGON2,
  hashPassword,
  isVerifiablePasswordHash,
  MAX_PASSWORD_LENGTH,
  OWASP_MINIMUM_ARGON2,
  verifyPassword,
} from "./passwords.js";

// The OWASP minimum keeps each Argon2 call around 20–50 ms, so the suite stays fast.
const params: Argon2Parameters = { ...OWASP_MINIMUM_ARGON2 };
const FAILED = { ok: false, needsRehash: false };

interface LegacyFixture {
  format: string;
  password: string;
  hash: string;
  generator: string;
}

/** Made by scripts/make-legacy-hash-fixtures.py with Python's bcrypt and Werkzeug. */
const fixtures = JSON.parse(
  readFileSync(new URL("../../test/fixtures/legacy-password-hashes.json", import.meta.url), "utf8"),
) as LegacyFixture[];

describe("Argon2id hashing", () => {
  test("produces a PHC string with the given parameters, a 16-byte salt and a 32-byte hash", async () => {
    const stored = await hashPassword("correct horse battery staple", params);
    const match = /^\$argon2id\$v=19\$m=19456,t=2,p=1\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/.exec(
      stored,
    );
    assert.ok(match, stored);
    assert.equal(Buffer.from(match[1] ?? "", "base64").length, 16);
    assert.equal(Buffer.from(match[2] ?? "", "base64").length, 32);
    assert.equal(identifyPasswordHash(stored), "argon2id");
  });

  test("salts every hash afresh", async () => {
    const first = await hashPassword("same password twice", params);
    const second = await hashPassword("same password twice", params);
    assert.notEqual(first, second);
  });

  test("round-trips, and a wrong password fails", async () => {
    const stored = await hashPassword("correct horse battery staple", params);
    assert.deepEqual(await verifyPassword(stored, "correct horse battery staple", params), {
      ok: true,
      needsRehash: false,
    });
    assert.deepEqual(await verifyPassword(stored, "correct horse battery stapl", params), FAILED);
    assert.deepEqual(await verifyPassword(stored, "Correct horse battery staple", params), FAILED);
    assert.deepEqual(await verifyPassword(stored, "", params), FAILED);
  });

  test("asks for a rehash when the configured parameters differ, up or down", async () => {
    const stored = await hashPassword("correct horse battery staple", params);
    const raised = { ...params, iterations: 3 };
    assert.deepEqual(await verifyPassword(stored, "correct horse battery staple", raised), {
      ok: true,
      needsRehash: true,
    });
    const strongerStored = await hashPassword("correct horse battery staple", raised);
    assert.deepEqual(await verifyPassword(strongerStored, "correct horse battery staple", params), {
      ok: true,
      needsRehash: true,
    });
    const moreMemory = { ...params, memoryKiB: params.memoryKiB + 1024 };
    assert.equal(
      (await verifyPassword(stored, "correct horse battery staple", moreMemory)).needsRehash,
      true,
    );
    // A wrong password never asks for a rehash: there is nothing to rehash it with.
    assert.deepEqual(await verifyPassword(stored, "wrong", raised), FAILED);
  });

  test("DEFAULT_ARGON2 is at least the OWASP minimum and hashes", async () => {
    assert.ok(DEFAULT_ARGON2.memoryKiB >= OWASP_MINIMUM_ARGON2.memoryKiB);
    assert.ok(DEFAULT_ARGON2.iterations >= OWASP_MINIMUM_ARGON2.iterations);
    assert.ok(DEFAULT_ARGON2.parallelism >= OWASP_MINIMUM_ARGON2.parallelism);
    const stored = await hashPassword("x", DEFAULT_ARGON2);
    assert.equal((await verifyPassword(stored, "x", DEFAULT_ARGON2)).ok, true);
  });

  test("accepts a password of exactly MAX_PASSWORD_LENGTH characters, all of them counted", async () => {
    const longest = "ab".repeat(MAX_PASSWORD_LENGTH / 2);
    assert.equal([...longest].length, MAX_PASSWORD_LENGTH);
    const stored = await hashPassword(longest, params);
    assert.equal((await verifyPassword(stored, longest, params)).ok, true);
    // Nothing is truncated: changing the very last character fails.
    assert.deepEqual(await verifyPassword(stored, `${longest.slice(0, -1)}c`, params), FAILED);
  });

  test("counts characters, not UTF-16 units: 1024 astral characters are allowed", async () => {
    const emoji = "🔐".repeat(MAX_PASSWORD_LENGTH);
    assert.equal(emoji.length, MAX_PASSWORD_LENGTH * 2);
    const stored = await hashPassword(emoji, params);
    assert.equal((await verifyPassword(stored, emoji, params)).ok, true);
  });

  test("round-trips non-ASCII passwords", async () => {
    const password = "pässwörd ✓ 密码 🔐";
    const stored = await hashPassword(password, params);
    assert.deepEqual(await verifyPassword(stored, password, params), {
      ok: true,
      needsRehash: false,
    });
    assert.deepEqual(await verifyPassword(stored, "passwörd ✓ 密码 🔐", params), FAILED);
  });

  test("treats composed and decomposed forms of the same password alike (NFKC)", async () => {
    const composed = "pässwörd".normalize("NFC");
    const decomposed = "pässwörd".normalize("NFD");
    assert.notEqual(composed, decomposed);
    const stored = await hashPassword(decomposed, params);
    assert.equal((await verifyPassword(stored, composed, params)).ok, true);
  });

  test("refuses a password over MAX_PASSWORD_LENGTH without hashing it", async () => {
    const tooLong = "a".repeat(MAX_PASSWORD_LENGTH + 1);
    // A hash that *does* match the long password, made directly with the library: refusing it
    // anyway shows the length check comes before any hash is computed.
    const matching = await argon2Hash(tooLong, {
      memoryCost: params.memoryKiB,
      timeCost: params.iterations,
      parallelism: params.parallelism,
    });
    assert.deepEqual(await verifyPassword(matching, tooLong, params), FAILED);
    await assert.rejects(hashPassword(tooLong, params), RangeError);
    // 1025 astral characters: 2050 UTF-16 units but still one character too many.
    assert.deepEqual(
      await verifyPassword(matching, "🔐".repeat(MAX_PASSWORD_LENGTH + 1), params),
      FAILED,
    );
    // A 10 MB body is refused just as cheaply.
    assert.deepEqual(await verifyPassword(matching, "a".repeat(10_000_000), params), FAILED);
  });

  test("refuses parameters below the OWASP minimum, or absurd ones", async () => {
    const unusable: Argon2Parameters[] = [
      { ...params, memoryKiB: 19455 },
      { ...params, iterations: 1 },
      { ...params, parallelism: 0 },
      { ...params, memoryKiB: 19456.5 },
      { ...params, iterations: Number.NaN },
      { ...params, memoryKiB: 4 * 1024 * 1024 + 1 },
      { ...params, iterations: 1_000_000 },
      { ...params, parallelism: 256 },
    ];
    for (const bad of unusable) {
      await assert.rejects(hashPassword("x", bad), RangeError, JSON.stringify(bad));
    }
  });
});

describe("Argon2 known answers", () => {
  // The reference implementation's test vector (phc-winner-argon2 src/test.c, Argon2id v=19,
  // t=2, m=2^16, p=1, password "password", salt "somesalt"), tag
  // 09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7; the Debian `argon2` CLI
  // (the reference code) prints the same string. RFC 9106's §5 vectors cannot be used here:
  // they include a secret key and associated data, which a PHC string cannot carry.
  const referenceArgon2id =
    "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc";

  test("verifies the reference implementation's Argon2id vector", async () => {
    assert.deepEqual(await verifyPassword(referenceArgon2id, "password", params), {
      ok: true,
      needsRehash: true, // m=65536 differs from the configured 19456
    });
    const sameParams = { memoryKiB: 65536, iterations: 2, parallelism: 1 };
    assert.deepEqual(await verifyPassword(referenceArgon2id, "password", sameParams), {
      ok: true,
      needsRehash: false,
    });
    assert.deepEqual(await verifyPassword(referenceArgon2id, "passwore", params), FAILED);
    const tampered = `${referenceArgon2id.slice(0, -1)}Q`;
    assert.deepEqual(await verifyPassword(tampered, "password", params), FAILED);
  });

  test("verifies the reference Argon2i vectors and asks to move them to Argon2id", async () => {
    // src/test.c: Argon2i t=2, m=2^8, p=1, "password"/"somesalt", v=19 and v=16 (no v= field).
    const argon2iV19 =
      "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8";
    const argon2iV16 =
      "$argon2i$m=256,t=2,p=1$c29tZXNhbHQ$/U3YPXYsSb3q9XxHvc0MLxur+GP960kN9j7emXX8zwY";
    for (const stored of [argon2iV19, argon2iV16]) {
      assert.equal(identifyPasswordHash(stored), "argon2");
      assert.deepEqual(await verifyPassword(stored, "password", params), {
        ok: true,
        needsRehash: true,
      });
      assert.deepEqual(await verifyPassword(stored, "passwore", params), FAILED);
    }
  });
});

describe("garbled and hostile stored hashes", () => {
  const pbkdf2Fixture = fixtures.find((f) => f.hash.startsWith("pbkdf2:sha256:260000$"));
  const garbled = [
    "$argon2id$garbage",
    "",
    "$2b$04$short",
    "pbkdf2:sha256:abc$x$y",
    "scrypt:999999999:8:1$s$h",
    "$argon2id$v=19$m=19456,t=2,p=1$$",
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$not*base64!",
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc$",
    // Costs that would exhaust memory or time if taken at face value.
    "$argon2id$v=19$m=4294967295,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
    "$argon2id$v=19$m=65536,t=4294967295,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
    "$argon2id$v=19$m=1,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
    `$2b$31$${"a".repeat(53)}`,
    `$2b$99$${"a".repeat(53)}`,
    `pbkdf2:sha256:2147483647$salt$${"0".repeat(64)}`,
    `pbkdf2:md5:1000$salt$${"0".repeat(32)}`,
    `pbkdf2:sha256:1000$salt$${"0".repeat(63)}`,
    `pbkdf2:sha256:1000$salt$${"A".repeat(64)}`,
    `pbkdf2:sha256:0$salt$${"0".repeat(64)}`,
    `pbkdf2:sha256:1000$$${"0".repeat(64)}`,
    `scrypt:32768:8:1$salt$${"0".repeat(127)}`,
    `scrypt:30000:8:1$salt$${"0".repeat(128)}`,
    `scrypt:1048576:8:1$salt$${"0".repeat(128)}`,
    `scrypt:32768:8:1000$salt$${"0".repeat(128)}`,
    `scrypt:32768:8:1$${"s".repeat(1000)}$${"0".repeat(128)}`,
    // Werkzeug formats we do not accept: plain HMAC (pre-pbkdf2 Werkzeug) and plain text.
    "sha1$salt$0000000000000000000000000000000000000000",
    "plain$$password",
    "password",
    "$1$saltsalt$hash",
    "\u0000",
    "$".repeat(10_000),
  ];

  test("return { ok: false, needsRehash: false } without throwing", async () => {
    for (const stored of garbled) {
      assert.deepEqual(await verifyPassword(stored, "password", params), FAILED, stored);
    }
  });

  test("are not verifiable hashes (what an import of accounts refuses)", () => {
    for (const stored of garbled) assert.equal(isVerifiablePasswordHash(stored), false, stored);
    for (const notAString of [undefined, null, 42, {}]) {
      assert.equal(isVerifiablePasswordHash(notAString as unknown as string), false);
    }
  });

  test("well-formed hashes with excessive costs are refused before any work", async () => {
    const bcryptFixture = fixtures.find((f) => f.format === "bcrypt-2b");
    const scryptFixture = fixtures.find((f) => f.hash.startsWith("scrypt:32768:8:1$"));
    const pbkdf2Fixture = fixtures.find((f) => f.hash.startsWith("pbkdf2:sha256:1000$"));
    assert.ok(bcryptFixture && scryptFixture && pbkdf2Fixture);
    const hostile = [
      // Each would take seconds (or hundreds of MiB) if it were computed.
      bcryptFixture.hash.replace("$2b$04$", "$2b$17$"),
      pbkdf2Fixture.hash.replace(":1000$", ":2000001$"),
      scryptFixture.hash.replace("scrypt:32768:8:1$", "scrypt:262144:8:1$"),
      scryptFixture.hash.replace("scrypt:32768:8:1$", "scrypt:32768:8:64$"),
      scryptFixture.hash.replace("scrypt:32768:8:1$", "scrypt:131072:8:8$"),
      "$argon2id$v=19$m=65536,t=101,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
      "$argon2id$v=19$m=65536,t=2,p=17$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
    ];
    for (const stored of hostile) {
      assert.equal(isVerifiablePasswordHash(stored), false, stored);
      const start = performance.now();
      assert.deepEqual(await verifyPassword(stored, "password", params), FAILED, stored);
      const elapsedMs = performance.now() - start;
      assert.ok(elapsedMs < 250, `${stored} took ${elapsedMs} ms`);
    }
  });

  test("a Werkzeug pbkdf2 hash without an iteration count is refused, not guessed", async () => {
    assert.ok(pbkdf2Fixture, "fixture with Werkzeug 2.2's default of 260000 iterations");
    const stored = pbkdf2Fixture.hash.replace(":260000$", "$");
    assert.match(stored, /^pbkdf2:sha256\$/);
    // Werkzeug 2.2 would accept this (it fills in its own default), but the count that makes
    // it verify depends on the Werkzeug that *checks* it, so Strongroom refuses it.
    assert.deepEqual(await verifyPassword(stored, pbkdf2Fixture.password, params), FAILED);
    assert.equal(identifyPasswordHash(stored), "werkzeug-pbkdf2");
    assert.equal(isVerifiablePasswordHash(stored), false);
  });

  test("odd password inputs never throw", async () => {
    const stored = await hashPassword("correct horse battery staple", params);
    const odd = ["", "\u0000", "\ud800", "\udfff\ud800", " ", "\u{10ffff}".repeat(3)];
    for (const password of odd) {
      assert.deepEqual(await verifyPassword(stored, password, params), FAILED);
      for (const fixture of fixtures.slice(0, 3)) {
        assert.deepEqual(await verifyPassword(fixture.hash, password, params), FAILED);
      }
    }
    for (const notAString of [undefined, null, 42, {}, Buffer.from("x")]) {
      const password = notAString as unknown as string;
      assert.deepEqual(await verifyPassword(stored, password, params), FAILED);
      assert.deepEqual(await verifyPassword(password, "x", params), FAILED);
    }
  });
});

describe("legacy hashes from Python (test/fixtures/legacy-password-hashes.json)", () => {
  test("are all verifiable hashes, and so is an Argon2id hash of ours", async () => {
    for (const fixture of fixtures) assert.equal(isVerifiablePasswordHash(fixture.hash), true);
    assert.equal(isVerifiablePasswordHash(await hashPassword("x", params)), true);
  });

  test("covers every format the importer must read", () => {
    const formats = new Set(fixtures.map((f) => f.format));
    for (const format of [
      "bcrypt-2a",
      "bcrypt-2b",
      "bcrypt-2y",
      "werkzeug-pbkdf2:sha256",
      "werkzeug-pbkdf2:sha256:1000",
      "werkzeug-pbkdf2:sha512:1000",
      "werkzeug-scrypt",
      "werkzeug-scrypt:16384:8:1",
    ]) {
      assert.ok(formats.has(format), format);
    }
    assert.ok(fixtures.some((f) => f.password === "pässwörd ✓ 密码"));
    assert.ok(fixtures.some((f) => [...f.password].length === 100));
  });

  for (const fixture of fixtures) {
    const label = `${fixture.format} (${[...fixture.password].length} characters)`;
    test(`${label} verifies, asks for a rehash, and fails with another password`, async () => {
      assert.deepEqual(await verifyPassword(fixture.hash, fixture.password, params), {
        ok: true,
        needsRehash: true,
      });
      assert.deepEqual(await verifyPassword(fixture.hash, "not the password", params), FAILED);
      // One character changed in the first position: still within bcrypt's 72 bytes.
      const altered = `${fixture.password[0] === "X" ? "Y" : "X"}${fixture.password.slice(1)}`;
      assert.deepEqual(await verifyPassword(fixture.hash, altered, params), FAILED);
    });
  }

  test("identifies each fixture's family", () => {
    for (const fixture of fixtures) {
      const expected = fixture.format.startsWith("bcrypt")
        ? "bcrypt"
        : fixture.format.startsWith("werkzeug-pbkdf2")
          ? "werkzeug-pbkdf2"
          : "werkzeug-scrypt";
      assert.equal(identifyPasswordHash(fixture.hash), expected, fixture.format);
    }
    assert.equal(identifyPasswordHash(""), "unknown");
    assert.equal(identifyPasswordHash("$1$md5crypt$x"), "unknown");
  });

  test("bcrypt ignores everything after 72 bytes, which is why it is upgraded", async () => {
    const bcrypt100 = fixtures.find((f) => f.format === "bcrypt-2b" && f.password.length === 100);
    const werkzeug100 = fixtures.find(
      (f) => f.format.startsWith("werkzeug") && f.password.length === 100,
    );
    assert.ok(bcrypt100 && werkzeug100);
    const tailChanged = `${bcrypt100.password.slice(0, 72)}${"z".repeat(28)}`;
    assert.equal((await verifyPassword(bcrypt100.hash, tailChanged, params)).ok, true);
    const werkzeugTailChanged = `${werkzeug100.password.slice(0, 72)}${"z".repeat(28)}`;
    assert.equal((await verifyPassword(werkzeug100.hash, werkzeugTailChanged, params)).ok, false);
  });

  test("a legacy hash upgraded at login verifies as current Argon2id", async () => {
    const fixture = fixtures[0];
    assert.ok(fixture);
    const first = await verifyPassword(fixture.hash, fixture.password, params);
    assert.ok(first.ok && first.needsRehash);
    const upgraded = await hashPassword(fixture.password, params);
    assert.deepEqual(await verifyPassword(upgraded, fixture.password, params), {
      ok: true,
      needsRehash: false,
    });
  });
});

/**
 * Finds a Python that can import bcrypt and werkzeug: `python3` first, then Debian's own
 * interpreter, which a pyenv or virtualenv python3 earlier on PATH would otherwise hide.
 */
function findPythonWithHashLibraries(): string | null {
  for (const candidate of ["python3", "/usr/bin/python3"]) {
    try {
      execFileSync(candidate, ["-c", "import bcrypt, werkzeug.security"], { stdio: "ignore" });
      return candidate;
    } catch {
      // Not installed here, or missing a module: try the next one.
    }
  }
  return null;
}

const python = findPythonWithHashLibraries();

// Hashes made now by the installed libraries, so a new bcrypt or Werkzeug release is checked
// too, not only the versions that made the committed fixtures.
const PYTHON_HASHER = `
import json, sys, bcrypt
from werkzeug.security import generate_password_hash
password = json.load(sys.stdin)
out = {
    "bcrypt": bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(4)).decode(),
    "pbkdf2": generate_password_hash(password, method="pbkdf2:sha256:1000"),
}
try:
    out["scrypt"] = generate_password_hash(password, method="scrypt:16384:8:1")
except ValueError:
    pass  # Werkzeug < 2.3 has no scrypt.
print(json.dumps(out))
`;

describe("hashes made by Python at test time", () => {
  test("verify with the password they were made from", {
    skip:
      python === null
        ? "python3 with bcrypt and werkzeug not found (apt-get install python3-bcrypt python3-werkzeug)"
        : false,
  }, async (t) => {
    const password = `fresh ✓ 密码 ${Date.now()}`;
    const output = execFileSync(python ?? "python3", ["-c", PYTHON_HASHER], {
      input: JSON.stringify(password),
      encoding: "utf8",
    });
    const hashes = JSON.parse(output) as Record<string, string>;
    if (hashes.scrypt === undefined) {
      t.diagnostic("installed werkzeug has no scrypt (added in 2.3); scrypt not regenerated");
    }
    for (const [kind, stored] of Object.entries(hashes)) {
      assert.deepEqual(
        await verifyPassword(stored, password, params),
        {
          ok: true,
          needsRehash: true,
        },
        kind,
      );
      assert.deepEqual(await verifyPassword(stored, `${password}!`, params), FAILED, kind);
    }
  });
});

describe("burnVerification", () => {
  test("resolves for any password, and again from its cached dummy hash", async () => {
    await burnVerification("no such user's password", params);
    await burnVerification("", params);
    await Promise.all([burnVerification("a", params), burnVerification("b", params)]);
    await burnVerification("a".repeat(MAX_PASSWORD_LENGTH + 1), params);
  });

  test("does one Argon2 verification, like a real one", async () => {
    const stored = await hashPassword("correct horse battery staple", params);
    await burnVerification("warm the cache", params);
    // Counted, not timed: what matters is that the dummy path does the Argon2 work (skipping
    // it would answer ~100× faster), and a count does not depend on how busy the machine is.
    const work = async (run: () => Promise<unknown>): Promise<number> => {
      const before = argon2TasksCompleted();
      await run();
      return argon2TasksCompleted() - before;
    };
    assert.equal(await work(() => verifyPassword(stored, "wrong guess", params)), 1);
    assert.equal(await work(() => burnVerification("wrong guess", params)), 1);
    assert.equal(
      await work(() => burnVerification("x".repeat(MAX_PASSWORD_LENGTH + 1), params)),
      0,
    );
  });

  test("rejects unusable parameters like hashPassword", async () => {
    await assert.rejects(burnVerification("x", { ...params, iterations: 1 }), RangeError);
  });
});

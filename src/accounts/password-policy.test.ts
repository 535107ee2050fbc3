import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { MAX_PASSWORD_LENGTH } from "../crypto/passwords.js";
import {
  ABSOLUTE_MIN_PASSWORD_LENGTH,
  checkPassword,
  DEFAULT_PASSWORD_MIN_LENGTH,
  type PasswordPolicy,
} from "./password-policy.js";

const policy: PasswordPolicy = { minLength: DEFAULT_PASSWORD_MIN_LENGTH };
const noContext = {};
const alice = { username: "alice.w", email: "alice.wonder@example.org" };

/** Problems for `password` under the default policy and no user context. */
function problemsOf(password: string, context: { username?: string; email?: string } = noContext) {
  return checkPassword(password, policy, context);
}

/** Asserts exactly one problem, mentioning `fragment`, and that it does not echo the password. */
function assertSingleProblem(password: string, fragment: RegExp, context = noContext): void {
  const problems = checkPassword(password, policy, context);
  assert.equal(problems.length, 1, `${password}: ${JSON.stringify(problems)}`);
  assert.match(problems[0] ?? "", fragment);
  // (The empty string is a substring of everything, so there is nothing to look for.)
  assert.ok(password === "" || !(problems[0] ?? "").includes(password), "echoes the password");
}

describe("defaults", () => {
  test("follow NIST SP 800-63B-4", () => {
    assert.equal(DEFAULT_PASSWORD_MIN_LENGTH, 15);
    assert.equal(ABSOLUTE_MIN_PASSWORD_LENGTH, 8);
    assert.equal(MAX_PASSWORD_LENGTH, 1024);
  });

  test("refuse a misconfigured minimum", () => {
    for (const minLength of [0, 7, 1025, 15.5, Number.NaN]) {
      assert.throws(() => checkPassword("x", { minLength }, noContext), RangeError);
    }
    assert.deepEqual(checkPassword("violet canoe", { minLength: 8 }, noContext), []);
  });
});

describe("length", () => {
  test("accepts a long passphrase and any character set, with no composition rules", () => {
    assert.deepEqual(problemsOf("violet canoe orbit lantern"), []);
    assert.deepEqual(problemsOf("all lowercase and spaces ok"), []);
    assert.deepEqual(problemsOf("Зелёный трамвай едет в парк"), []);
    assert.deepEqual(problemsOf("緑の路面電車が公園へ向かう途中"), []);
  });

  test("refuses one character fewer than the minimum", () => {
    assert.deepEqual(problemsOf("violet canoe or"), []);
    assertSingleProblem("violet canoe o", /at least 15 characters/);
    assertSingleProblem("", /at least 15 characters/);
  });

  test("counts code points after NFC, not UTF-16 units or combining marks", () => {
    // 14 emoji are 28 UTF-16 units but only 14 characters.
    assertSingleProblem("🌲🦊🌙🍄🌊🔥🐝🌵🍋🎈🧭🪁🎲🛶", /at least 15/);
    assert.deepEqual(problemsOf("🌲🦊🌙🍄🌊🔥🐝🌵🍋🎈🧭🪁🎲🛶🗝"), []);
    // Six "ä" typed decomposed (a + U+0308): 20 code points as typed, 14 after NFC.
    const decomposed = "gräsänkämäläpä".normalize("NFD");
    assert.equal(decomposed.length, 20);
    assertSingleProblem(decomposed, /at least 15/);
    assert.deepEqual(problemsOf(`${decomposed}ö`.normalize("NFD")), []);
  });

  test("refuses more than MAX_PASSWORD_LENGTH characters, and accepts exactly that many", () => {
    const words = "violet canoe orbit lantern ";
    const longest = words.repeat(40).slice(0, MAX_PASSWORD_LENGTH);
    assert.deepEqual(problemsOf(longest), []);
    assertSingleProblem(`${longest}x`, /at most 1024 characters/);
    assertSingleProblem("x".repeat(1_000_000), /at most 1024 characters/);
  });
});

describe("common passwords", () => {
  test("refuses a password from the common list, whatever its case", () => {
    const lenient = { minLength: ABSOLUTE_MIN_PASSWORD_LENGTH };
    for (const common of ["iloveyou", "ILoveYou", "Sunshine", "trustno1", "password123"]) {
      const problems = checkPassword(common, lenient, noContext);
      assert.equal(problems.length, 1, common);
      assert.match(problems[0] ?? "", /most commonly used/);
    }
    // Long entries are refused under the default minimum too.
    assertSingleProblem("momsanaladventure", /most commonly used/);
    assertSingleProblem("passwordpassword", /commonly used/);
  });

  test("refuses a common password repeated", () => {
    assertSingleProblem("dragondragondragon", /repetition/);
    assertSingleProblem("SunshineSunshine", /repetition/);
    assertSingleProblem("footballfootball1", /repetition/);
  });

  test("refuses a common password followed only by digits or symbols", () => {
    assertSingleProblem("monkey2024!!!!!!", /digits or symbols/);
    assertSingleProblem("Letmein!!!!!!!!!", /digits or symbols/);
    assertSingleProblem("sunshine 1999 :)", /digits or symbols/);
    assertSingleProblem("iloveyou🙂🙂🙂🙂🙂🙂🙂", /digits or symbols/);
  });

  test("accepts a common word inside a longer passphrase", () => {
    assert.deepEqual(problemsOf("monkey wrench in the gearbox"), []);
    assert.deepEqual(problemsOf("2024 monkey business!"), []);
    assert.deepEqual(problemsOf("dragon fruit smoothie 42"), []);
  });
});

describe("repetition and sequences", () => {
  test("refuses a single repeated character", () => {
    assertSingleProblem("aaaaaaaaaaaaaaaa", /repeated character/);
    assertSingleProblem("                ", /repeated character/);
    assertSingleProblem("ææææææææææææææææ", /repeated character/);
  });

  test("refuses a short pattern repeated", () => {
    assertSingleProblem("abababababababab", /repeated pattern/);
    assertSingleProblem("xyz!xyz!xyz!xyz!", /repeated pattern/);
  });

  test("refuses simple sequences, up or down, with digits and letters wrapping", () => {
    for (const sequence of [
      "abcdefghijklmnop",
      "ABCDEFGHIJKLMNOP",
      "1234567890123456",
      "9876543210987654",
      "ponmlkjihgfedcba",
      "uvwxyzabcdefghij",
    ]) {
      const problems = problemsOf(sequence);
      assert.ok(
        problems.some((p) => /simple sequence/.test(p)),
        `${sequence}: ${JSON.stringify(problems)}`,
      );
      assert.ok(problems.every((p) => !p.includes(sequence)));
    }
  });

  test("accepts text that only contains a short run", () => {
    assert.deepEqual(problemsOf("abc violet canoe orbit"), []);
    assert.deepEqual(problemsOf("lantern 1234 orbit tide"), []);
  });
});

describe("context", () => {
  test("refuses a password containing the username, case-insensitively", () => {
    assertSingleProblem("my name is ALICE.W and I row", /username/, alice);
  });

  test("ignores usernames shorter than 3 characters", () => {
    assert.deepEqual(problemsOf("al is the best canoeist", { username: "al" }), []);
  });

  test("refuses the whole e-mail, or its local part", () => {
    const email = { email: alice.email };
    assertSingleProblem("write to alice.wonder@example.org", /e-mail address\./, email);
    assertSingleProblem("Alice.Wonder rows the canoe", /before the @/, email);
    // A local part of under 3 characters is not checked, but the whole address still is.
    const short = { email: "jo@example.org" };
    assert.deepEqual(problemsOf("jo rows a violet canoe", short), []);
    assertSingleProblem("mail jo@example.org today", /e-mail address\./, short);
  });

  test("refuses the service's own name", () => {
    assertSingleProblem("my StrongRoom vault key", /name of this service/);
  });

  test("reports every problem at once", () => {
    const problems = checkPassword("alice.wonder", policy, alice);
    assert.ok(problems.some((p) => /at least 15/.test(p)));
    assert.ok(problems.some((p) => /username/.test(p)));
    assert.ok(problems.some((p) => /before the @/.test(p)));
  });
});

describe("messages", () => {
  test("never echo the password", () => {
    const passwords = [
      "",
      "sh0rt",
      "trustno1",
      "dragondragondragon",
      "monkey2024!!!!!!",
      "aaaaaaaaaaaaaaaa",
      "abcdefghijklmnop",
      "alice.w and alice.wonder@example.org in strongroom",
      "x".repeat(MAX_PASSWORD_LENGTH + 1),
    ];
    for (const password of passwords) {
      for (const message of checkPassword(password, policy, alice)) {
        assert.ok(password === "" || !message.includes(password), message);
      }
    }
  });
});

describe("property: long random passwords are accepted", () => {
  // Printable ASCII plus letters and symbols from other scripts: no composition rule applies,
  // and a random choice of 20 is vanishingly unlikely to hit the list, a pattern or a name.
  const alphabet = [
    ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    ..." !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    ..."äöüßéñçøåæœ",
    ..."αβγδεζηθλμπσω",
    ..."жзийклмнпрст",
    ..."日本語漢字密码",
    ..."🔐🌲🦊🌙",
  ];

  test("20 random characters from a broad alphabet pass every rule", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...alphabet), { minLength: 20, maxLength: 40 }),
        (chars) => {
          const password = chars.join("");
          assert.deepEqual(checkPassword(password, policy, alice), [], password);
        },
      ),
      { numRuns: 500 },
    );
  });
});

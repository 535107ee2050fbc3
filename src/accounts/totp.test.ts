import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Secret, TOTP } from "otpauth";
import { createTotpEnrolment, generateTotpCode, TOTP_PARAMETERS, verifyTotp } from "./totp.js";

// RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
const RFC_SECRET = Secret.fromLatin1("12345678901234567890");
const RFC_SHA1_VECTORS: ReadonlyArray<[seconds: number, code: string]> = [
  [59, "94287082"],
  [1111111109, "07081804"],
  [1111111111, "14050471"],
  [1234567890, "89005924"],
  [2000000000, "69279037"],
  [20000000000, "65353130"],
];

const STEP_MS = 30_000;
/** A moment in the middle of a step, so ±1 step is unambiguous. */
const NOW = 1_700_000_000_000 - (1_700_000_000_000 % STEP_MS) + 12_000;
const NOW_STEP = Math.floor(NOW / STEP_MS);

describe("TOTP parameters (RFC 6238 Appendix B, SHA-1)", () => {
  it("are what authenticator apps support", () => {
    assert.deepEqual(TOTP_PARAMETERS, { algorithm: "SHA1", digits: 6, period: 30 });
  });

  it("reproduce every SHA-1 vector when configured for 8 digits", () => {
    const totp = new TOTP({ ...TOTP_PARAMETERS, digits: 8, secret: RFC_SECRET });
    for (const [seconds, code] of RFC_SHA1_VECTORS) {
      assert.equal(totp.generate({ timestamp: seconds * 1000 }), code, `T=${seconds}`);
    }
  });

  it("give the vectors' last six digits through our own 6-digit code path", () => {
    // HOTP truncation is `value mod 10^digits`, so the 6-digit code is the 8-digit one's tail.
    for (const [seconds, code] of RFC_SHA1_VECTORS) {
      assert.equal(generateTotpCode(RFC_SECRET.base32, seconds * 1000), code.slice(2));
      const verified = verifyTotp(RFC_SECRET.base32, code.slice(2), {
        lastUsedStep: null,
        now: seconds * 1000,
      });
      assert.deepEqual(verified, { ok: true, step: Math.floor(seconds / 30) });
    }
  });
});

describe("createTotpEnrolment", () => {
  it("makes a 160-bit base32 secret and a matching otpauth URI", () => {
    const enrolment = createTotpEnrolment("alice@example.com", "Strongroom");
    assert.match(enrolment.secret, /^[A-Z2-7]{32}$/);
    assert.equal(Secret.fromBase32(enrolment.secret).bytes.length, 20);
    const url = new URL(enrolment.otpauthUrl);
    assert.equal(url.protocol, "otpauth:");
    assert.equal(url.host, "totp");
    assert.equal(decodeURIComponent(url.pathname), "/Strongroom:alice@example.com");
    assert.equal(url.searchParams.get("secret"), enrolment.secret);
    assert.equal(url.searchParams.get("issuer"), "Strongroom");
    assert.equal(url.searchParams.get("algorithm"), "SHA1");
    assert.equal(url.searchParams.get("digits"), "6");
    assert.equal(url.searchParams.get("period"), "30");
  });

  it("encodes awkward account and issuer text instead of breaking the URI", () => {
    const enrolment = createTotpEnrolment("bob&secret=AAAA", "Acme: Vault?");
    const url = new URL(enrolment.otpauthUrl);
    assert.equal(url.searchParams.get("secret"), enrolment.secret);
    assert.equal(url.searchParams.get("issuer"), "Acme: Vault?");
  });

  it("renders the URI as a base64 SVG data URL with no script", () => {
    const { qrSvgDataUrl } = createTotpEnrolment("alice", "Strongroom");
    const prefix = "data:image/svg+xml;base64,";
    assert.ok(qrSvgDataUrl.startsWith(prefix));
    const svg = Buffer.from(qrSvgDataUrl.slice(prefix.length), "base64").toString("utf8");
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<path d="M/);
    assert.ok(svg.endsWith("</svg>"));
    assert.doesNotMatch(svg, /<script|on\w+=|javascript:/i);
  });

  it("never repeats a secret", () => {
    const secrets = new Set(
      Array.from({ length: 100 }, () => createTotpEnrolment("a", "b").secret),
    );
    assert.equal(secrets.size, 100);
  });
});

describe("verifyTotp", () => {
  const { secret } = createTotpEnrolment("alice", "Strongroom");
  const codeAt = (step: number): string => generateTotpCode(secret, step * STEP_MS);

  it("accepts the current code and returns its step", () => {
    assert.deepEqual(verifyTotp(secret, codeAt(NOW_STEP), { lastUsedStep: null, now: NOW }), {
      ok: true,
      step: NOW_STEP,
    });
  });

  it("accepts one step of drift either way, and no more", () => {
    for (const offset of [-1, 1]) {
      assert.deepEqual(
        verifyTotp(secret, codeAt(NOW_STEP + offset), { lastUsedStep: null, now: NOW }),
        { ok: true, step: NOW_STEP + offset },
      );
    }
    for (const offset of [-3, -2, 2, 3]) {
      const code = codeAt(NOW_STEP + offset);
      // Skip the one-in-a-million case where a far code equals one inside the window.
      if ([-1, 0, 1].some((near) => codeAt(NOW_STEP + near) === code)) continue;
      assert.deepEqual(verifyTotp(secret, code, { lastUsedStep: null, now: NOW }), { ok: false });
    }
  });

  it("with driftSteps 0 accepts the current step only; refuses a drift beyond the maximum", () => {
    assert.deepEqual(
      verifyTotp(secret, codeAt(NOW_STEP), { lastUsedStep: null, now: NOW, driftSteps: 0 }),
      { ok: true, step: NOW_STEP },
    );
    for (const offset of [-1, 1]) {
      const code = codeAt(NOW_STEP + offset);
      if (code === codeAt(NOW_STEP)) continue;
      assert.deepEqual(
        verifyTotp(secret, code, { lastUsedStep: null, now: NOW, driftSteps: 0 }),
        { ok: false },
        `offset ${offset}`,
      );
    }
    for (const driftSteps of [-1, 3, 0.5, Number.NaN])
      assert.throws(
        () => verifyTotp(secret, codeAt(NOW_STEP), { lastUsedStep: null, now: NOW, driftSteps }),
        RangeError,
      );
  });

  it("treats `now` as milliseconds at step boundaries", () => {
    const boundary = NOW_STEP * STEP_MS;
    const code = codeAt(NOW_STEP);
    assert.deepEqual(verifyTotp(secret, code, { lastUsedStep: null, now: boundary }), {
      ok: true,
      step: NOW_STEP,
    });
    // The last millisecond of the next-but-one step is two steps on: out of the window.
    const later = boundary + 3 * STEP_MS - 1;
    const result = verifyTotp(secret, code, { lastUsedStep: null, now: later });
    if (![1, 2, 3].some((offset) => codeAt(NOW_STEP + offset) === code)) {
      assert.deepEqual(result, { ok: false });
    }
  });

  it("refuses a replay of the same code within its window", () => {
    const code = codeAt(NOW_STEP);
    const first = verifyTotp(secret, code, { lastUsedStep: null, now: NOW });
    assert.ok(first.ok);
    const lastUsedStep = first.step;
    assert.deepEqual(verifyTotp(secret, code, { lastUsedStep, now: NOW }), { ok: false });
    // Still refused 30 s later, when the code is inside the drift window as "previous step".
    assert.deepEqual(verifyTotp(secret, code, { lastUsedStep, now: NOW + STEP_MS }), {
      ok: false,
    });
  });

  it("refuses an older code once a later one was used", () => {
    const lastUsedStep = NOW_STEP;
    const earlier = codeAt(NOW_STEP - 1);
    assert.deepEqual(verifyTotp(secret, earlier, { lastUsedStep, now: NOW }), { ok: false });
  });

  it("accepts the next step's code after a use", () => {
    const next = codeAt(NOW_STEP + 1);
    assert.deepEqual(verifyTotp(secret, next, { lastUsedStep: NOW_STEP, now: NOW }), {
      ok: true,
      step: NOW_STEP + 1,
    });
    assert.deepEqual(verifyTotp(secret, next, { lastUsedStep: NOW_STEP, now: NOW + STEP_MS }), {
      ok: true,
      step: NOW_STEP + 1,
    });
  });

  it("refuses malformed codes", () => {
    const valid = codeAt(NOW_STEP);
    for (const code of [
      "12345",
      "1234567",
      "abcdef",
      " 123456",
      "123456 ",
      "",
      `${valid}\n`,
      ` ${valid}`,
      `${valid.slice(0, 3)} ${valid.slice(3)}`,
      "١٢٣٤٥٦", // Arabic-Indic digits
      "12345６", // fullwidth digit
      "+12345",
      "-12345",
      "1e5000",
    ]) {
      assert.deepEqual(verifyTotp(secret, code, { lastUsedStep: null, now: NOW }), { ok: false });
    }
  });

  it("refuses a code for another secret", () => {
    const other = createTotpEnrolment("mallory", "Strongroom").secret;
    const code = generateTotpCode(other, NOW);
    if ([-1, 0, 1].some((near) => codeAt(NOW_STEP + near) === code)) return;
    assert.deepEqual(verifyTotp(secret, code, { lastUsedStep: null, now: NOW }), { ok: false });
  });

  it("throws without echoing a corrupt secret or a bad clock", () => {
    assert.throws(
      () => verifyTotp("NOT*BASE32!", "123456", { lastUsedStep: null, now: NOW }),
      (error: unknown) =>
        error instanceof TypeError && error.message === "TOTP secret is not valid base32",
    );
    assert.throws(
      () => verifyTotp(secret, "123456", { lastUsedStep: null, now: Number.NaN }),
      TypeError,
    );
  });
});

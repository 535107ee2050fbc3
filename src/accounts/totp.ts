import { Secret, TOTP } from "otpauth";
import qrcode from "qrcode-generator";
import { constantTimeEqual } from "../lib/constant-time.js";
import { randomKeyBytes } from "../lib/random.js";

/**
 * RFC 6238 time-based one-time passwords via the `otpauth` package. The parameters are the
 * ones every authenticator app supports (Google Authenticator ignores anything else):
 * HMAC-SHA-1, 6 digits, 30-second steps. Exported so tests can prove them against RFC 6238's
 * vectors; never change them for enrolled users (their apps would disagree).
 */
export const TOTP_PARAMETERS = { algorithm: "SHA1", digits: 6, period: 30 } as const;

/** Secret size: 160 bits, the HMAC-SHA-1 output size recommended by RFC 4226 §4. */
const SECRET_BYTES = 20;
/**
 * Steps of clock drift accepted either side of the server's step by default (RFC 6238 §5.2):
 * a phone a few seconds off, or a code typed as it changes, still works. `TOTP_DRIFT_STEPS=0`
 * accepts the current step only (a code lives at most 30 s: ASVS 5.0 6.5.5).
 */
export const DEFAULT_TOTP_DRIFT_STEPS = 1;
/** The most drift `TOTP_DRIFT_STEPS` may allow: ±2 steps, a code alive for 2½ minutes. */
export const MAX_TOTP_DRIFT_STEPS = 2;
/** Exactly six ASCII digits; `\d` is avoided so no other script's digits slip in. */
const CODE_FORMAT = /^[0-9]{6}$/;
/** QR module size and quiet zone, in SVG user units (pixels): a 4-module margin per ISO 18004. */
const QR_CELL_SIZE = 4;
const QR_MARGIN = QR_CELL_SIZE * 4;

/** What a user needs to add Strongroom to an authenticator app. */
export interface TotpEnrolment {
  /** RFC 4648 base32 secret (160 bits); store it encrypted, never log it. */
  secret: string;
  /** `otpauth://totp/…` URI with issuer, account, algorithm, digits and period. */
  otpauthUrl: string;
  /** The URI as a QR code: a `data:image/svg+xml;base64,…` URL for an `<img>` (CSP allows data:). */
  qrSvgDataUrl: string;
}

/** The outcome of `verifyTotp`: on success, the step to store as the new `lastUsedStep`. */
export type TotpVerification = { ok: true; step: number } | { ok: false };

/**
 * Starts a TOTP enrolment: a fresh 160-bit secret from the OS CSPRNG, its `otpauth://` URI
 * labelled `issuer:account`, and that URI as an SVG QR code (error correction M). Nothing is
 * stored here; the caller keeps the secret (encrypted) until the user confirms a code.
 */
export function createTotpEnrolment(account: string, issuer: string): TotpEnrolment {
  // Uint8Array.from copies into a buffer of exactly 20 bytes (a Node Buffer may be a view
  // into a larger shared pool, which `Secret` would otherwise take whole).
  const secret = new Secret({ buffer: Uint8Array.from(randomKeyBytes(SECRET_BYTES)).buffer });
  const totp = new TOTP({ ...TOTP_PARAMETERS, issuer, label: account, secret });
  const otpauthUrl = totp.toString();
  return { secret: secret.base32, otpauthUrl, qrSvgDataUrl: renderQrSvgDataUrl(otpauthUrl) };
}

/**
 * Checks a 6-digit code at time `options.now` (ms since the epoch), accepting
 * `options.driftSteps` steps of clock drift either way (default
 * {@link DEFAULT_TOTP_DRIFT_STEPS}). Refuses replay: a code whose step is ≤ `options.lastUsedStep` is
 * refused, so each code (and any earlier one) works once; store the returned `step`. Anything
 * but exactly six ASCII digits is refused before any HMAC is computed. Throws `TypeError` if
 * `now` is not a finite number or the stored secret is not base32 (the message never
 * includes the secret).
 */
export function verifyTotp(
  secret: string,
  code: string,
  options: { lastUsedStep: number | null; now: number; driftSteps?: number },
): TotpVerification {
  if (!Number.isFinite(options.now)) throw new TypeError("now must be a finite number");
  const drift = options.driftSteps ?? DEFAULT_TOTP_DRIFT_STEPS;
  if (!Number.isSafeInteger(drift) || drift < 0 || drift > MAX_TOTP_DRIFT_STEPS)
    throw new RangeError(`driftSteps must be an integer from 0 to ${MAX_TOTP_DRIFT_STEPS}`);
  if (!CODE_FORMAT.test(code)) return { ok: false };
  const key = parseSecret(secret);
  const currentStep = Math.floor(options.now / 1000 / TOTP_PARAMETERS.period);
  let matchedStep: number | null = null;
  // Every candidate is computed and compared in constant time, with no early exit, so the
  // response time does not tell an attacker which step (if any) a guess matched.
  for (let step = currentStep - drift; step <= currentStep + drift; step += 1) {
    const expected = generateAtStep(key, step);
    const matches = constantTimeEqual(code, expected);
    const fresh = options.lastUsedStep === null || step > options.lastUsedStep;
    // The latest matching step wins, so `lastUsedStep` moves as far forward as possible.
    if (matches && fresh) matchedStep = step;
  }
  return matchedStep === null ? { ok: false } : { ok: true, step: matchedStep };
}

/**
 * The 6-digit code for `secret` at time `now` (ms since the epoch). For tests and tools that
 * play the part of an authenticator app; the server only verifies. Throws `TypeError` on a
 * secret that is not base32.
 */
export function generateTotpCode(secret: string, now: number): string {
  const step = Math.floor(now / 1000 / TOTP_PARAMETERS.period);
  return generateAtStep(parseSecret(secret), step);
}

function generateAtStep(secret: Secret, step: number): string {
  return TOTP.generate({
    secret,
    algorithm: TOTP_PARAMETERS.algorithm,
    digits: TOTP_PARAMETERS.digits,
    period: TOTP_PARAMETERS.period,
    timestamp: step * TOTP_PARAMETERS.period * 1000,
  });
}

/**
 * `Secret.fromBase32` names the offending character in its error, which would put part of a
 * secret into a log; this rethrows with a fixed message instead.
 */
function parseSecret(base32: string): Secret {
  try {
    const secret = Secret.fromBase32(base32);
    if (secret.bytes.length === 0) throw new TypeError("empty");
    return secret;
  } catch {
    throw new TypeError("TOTP secret is not valid base32");
  }
}

function renderQrSvgDataUrl(text: string): string {
  // Type number 0 picks the smallest QR version that fits; level M survives ~15% damage.
  const qr = qrcode(0, "M");
  qr.addData(text, "Byte");
  qr.make();
  const svg = qr.createSvgTag({ cellSize: QR_CELL_SIZE, margin: QR_MARGIN });
  return `data:image/svg+xml;base64,${Buffer.from(svg, "utf8").toString("base64")}`;
}

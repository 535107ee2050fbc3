/**
 * Which new passwords Strongroom accepts, after NIST SP 800-63B-4 §3.1.1.2 and OWASP ASVS 5.0
 * V6.2: a minimum length, a generous maximum, and a blocklist of common, predictable and
 * context-specific passwords. No composition rules (a digit, a capital, a symbol): they make
 * passwords harder to remember without making them harder to guess.
 */
import { createRequire } from "node:module";
import { MAX_PASSWORD_LENGTH } from "../crypto/passwords.js";

/** What an operator may tune. */
export interface PasswordPolicy {
  /** Fewest characters (Unicode code points after NFC normalisation) a password may have. */
  minLength: number;
}

/** Default minimum: NIST SP 800-63B-4 requires 15 when the password is the only factor. */
export const DEFAULT_PASSWORD_MIN_LENGTH = 15;

/**
 * Lowest minimum an operator may configure: NIST allows 8 only when the password is used with
 * a second factor, so going below it is never acceptable.
 */
export const ABSOLUTE_MIN_PASSWORD_LENGTH = 8;

/** The product's own name: the first word an attacker tries against this service. */
const SERVICE_NAME = "strongroom";

/** Usernames and e-mail local parts shorter than this match too much to be worth refusing. */
const MIN_CONTEXT_LENGTH = 3;

/** A repeated unit of up to this many characters is a "simple pattern" ("abab…", "1231…"). */
const MAX_PATTERN_UNIT = 4;

let commonPasswords: Set<string> | null = null;

/**
 * ~49k common passwords (all lowercase), loaded and turned into a Set on first use: the
 * package holds about 9 MiB of dictionaries, which a server that only serves secrets (no
 * sign-ups or password changes since it started) never needs.
 */
function isCommonPassword(lowercased: string): boolean {
  commonPasswords ??= new Set(
    (
      createRequire(import.meta.url)(
        "@zxcvbn-ts/language-common",
      ) as typeof import("@zxcvbn-ts/language-common")
    ).dictionary["passwords-common"],
  );
  return commonPasswords.has(lowercased);
}

/**
 * Lists what is wrong with a new password, as sentences to show the user; an empty array
 * means it is acceptable. Checks: at least `policy.minLength` characters (code points after
 * NFC), at most MAX_PASSWORD_LENGTH; not a common password (case-insensitive), nor one
 * repeated or followed only by digits/symbols; not a single repeated character, short
 * repeated pattern or simple sequence; not containing the username or e-mail local part
 * (each if at least 3 characters), the whole e-mail, or "strongroom". Messages never repeat
 * the password. Throws RangeError when `policy.minLength` is not an integer between
 * ABSOLUTE_MIN_PASSWORD_LENGTH and MAX_PASSWORD_LENGTH.
 */
export function checkPassword(
  password: string,
  policy: PasswordPolicy,
  context: { username?: string; email?: string },
): string[] {
  const { minLength } = policy;
  if (
    !Number.isInteger(minLength) ||
    minLength < ABSOLUTE_MIN_PASSWORD_LENGTH ||
    minLength > MAX_PASSWORD_LENGTH
  ) {
    throw new RangeError(
      `password minLength must be an integer from ${ABSOLUTE_MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH}`,
    );
  }
  // Measured as verifyPassword measures it (code points as typed), so an accepted password
  // can always be used to log in; stop here so the other checks never see a huge input.
  if (countCodePoints(password) > MAX_PASSWORD_LENGTH) {
    return [`Use at most ${MAX_PASSWORD_LENGTH} characters.`];
  }

  const problems: string[] = [];
  const normalized = password.normalize("NFC");
  if (countCodePoints(normalized) < minLength) {
    problems.push(`Use at least ${minLength} characters.`);
  }
  const lowered = normalized.toLowerCase();
  if (isCommonPassword(lowered)) {
    problems.push("This is one of the most commonly used passwords. Choose another.");
  } else if (isBuiltFromCommonPassword(lowered)) {
    problems.push(
      "This is a commonly used password with only repetition, digits or symbols added. Choose another.",
    );
  }
  if (isRepetitiveOrSequential(lowered)) {
    problems.push(
      "Avoid a repeated character, a short repeated pattern or a simple sequence such as abcd or 1234.",
    );
  }
  problems.push(...findContextProblems(lowered, context));
  return problems;
}

function countCodePoints(text: string): number {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/**
 * A common password repeated ("dragondragon"), or followed only by digits, punctuation,
 * symbols or spaces ("monkey2024!"), possibly both ("dragondragon1").
 */
function isBuiltFromCommonPassword(lowered: string): boolean {
  const chars = Array.from(lowered);
  let tailStart = chars.length;
  while (tailStart > 0 && /^[\p{N}\p{P}\p{S}\s]$/u.test(chars[tailStart - 1] ?? "")) {
    tailStart -= 1;
  }
  // Every way of splitting off a tail made only of non-letters is tried, not just the longest,
  // so "123456" + "789" is caught as well as "monkey" + "2024!".
  for (let end = chars.length; end >= Math.max(tailStart, 1); end -= 1) {
    const head = chars.slice(0, end).join("");
    if (end < chars.length && isCommonPassword(head)) return true;
    const unit = smallestRepeatingUnit(head);
    if (unit !== head && isCommonPassword(unit)) return true;
  }
  return false;
}

/** The shortest string that `text` is a whole number of copies of (`text` itself if none). */
function smallestRepeatingUnit(text: string): string {
  // Classic trick: text is periodic iff it occurs in text+text before position text.length.
  const period = `${text}${text}`.indexOf(text, 1);
  return period > 0 && period < text.length ? text.slice(0, period) : text;
}

/**
 * One character repeated, a unit of up to MAX_PATTERN_UNIT characters repeated, or a run of
 * consecutive characters up or down ("abcdef", "987654", "7890123": digits and a–z wrap).
 */
function isRepetitiveOrSequential(lowered: string): boolean {
  const codePoints = Array.from(lowered, (char) => char.codePointAt(0) ?? 0);
  if (codePoints.length < 3) return false;
  const unit = smallestRepeatingUnit(lowered);
  if (unit !== lowered && countCodePoints(unit) <= MAX_PATTERN_UNIT) return true;
  const steps = (direction: 1 | -1): boolean =>
    codePoints.every((point, i) => {
      const previous = codePoints[i - 1];
      return previous === undefined || isNeighbour(previous, point, direction);
    });
  return steps(1) || steps(-1);
}

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const LETTER_A = 0x61;
const LETTER_Z = 0x7a;

function isNeighbour(from: number, to: number, direction: 1 | -1): boolean {
  if (to === from + direction) return true;
  // Keyboards and habits wrap "…7890…" and "…xyzab…" round.
  const wrapsAround = (low: number, high: number): boolean =>
    direction === 1 ? from === high && to === low : from === low && to === high;
  return wrapsAround(DIGIT_0, DIGIT_9) || wrapsAround(LETTER_A, LETTER_Z);
}

function findContextProblems(
  lowered: string,
  context: { username?: string; email?: string },
): string[] {
  const problems: string[] = [];
  const username = context.username?.normalize("NFC").toLowerCase().trim() ?? "";
  if (countCodePoints(username) >= MIN_CONTEXT_LENGTH && lowered.includes(username)) {
    problems.push("Don't include your username.");
  }
  const email = context.email?.normalize("NFC").toLowerCase().trim() ?? "";
  const at = email.lastIndexOf("@");
  const localPart = at > 0 ? email.slice(0, at) : "";
  if (email.length > 0 && lowered.includes(email)) {
    problems.push("Don't include your e-mail address.");
  } else if (countCodePoints(localPart) >= MIN_CONTEXT_LENGTH && lowered.includes(localPart)) {
    problems.push("Don't include the part of your e-mail address before the @.");
  }
  if (lowered.includes(SERVICE_NAME)) {
    problems.push("Don't include the name of this service.");
  }
  return problems;
}

import { z } from "zod";
import type { FieldError } from "../lib/errors.js";
import { validationError } from "../lib/errors.js";

/**
 * Typed secrets (SPEC §3). `generic`, `password`, `api_key` and `note` hold a string;
 * `credential` and `card` an object. The type and value are encrypted together as one
 * structured value, so each version carries its own type.
 */
export const SECRET_TYPES = [
  "generic",
  "password",
  "api_key",
  "note",
  "credential",
  "card",
] as const;
export type SecretType = (typeof SECRET_TYPES)[number];

/** A value: 1 byte to 64 KiB of UTF-8 for the string types, and as JSON for the others. */
export const TYPED_VALUE_MAX_BYTES = 64 * 1024;

export const secretTypeSchema = z.enum(SECRET_TYPES, {
  error: "must be generic, password, api_key, note, credential or card",
});

const utf8Bytes = (text: string): number => Buffer.byteLength(text, "utf8");

const textValue = z
  .string({ error: "must be a string for this type" })
  .refine((v) => utf8Bytes(v) >= 1, { error: "must not be empty" })
  .refine((v) => utf8Bytes(v) <= TYPED_VALUE_MAX_BYTES, {
    error: `must be at most ${TYPED_VALUE_MAX_BYTES} bytes`,
  });

export const credentialValueSchema = z.strictObject(
  {
    username: z.string().min(1, { error: "must not be empty" }).max(512),
    password: z.string().min(1, { error: "must not be empty" }).max(4096),
    url: z
      .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
      .max(2048)
      .optional(),
  },
  { error: "must be an object {username, password, url?} for a credential" },
);

/** The Luhn (mod 10) check every payment card number passes (ISO/IEC 7812-1). */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let digit = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return sum % 10 === 0;
}

export const cardValueSchema = z.strictObject(
  {
    holder: z.string().trim().min(1, { error: "must not be empty" }).max(200),
    // Spaces and dashes as printed on cards are dropped; 12–19 digits (ISO/IEC 7812).
    number: z
      .string()
      .transform((text) => text.replace(/[ -]/g, ""))
      .pipe(
        z
          .string()
          .regex(/^[0-9]{12,19}$/, { error: "must be 12 to 19 digits" })
          .refine(passesLuhn, { error: "is not a valid card number (Luhn check)" }),
      ),
    expMonth: z.number().int().min(1, { error: "must be 1 to 12" }).max(12, {
      error: "must be 1 to 12",
    }),
    expYear: z.number().int().min(2000).max(2200),
    cvc: z
      .string()
      .regex(/^[0-9]{3,4}$/, { error: "must be 3 or 4 digits" })
      .optional(),
  },
  { error: "must be an object {holder, number, expMonth, expYear, cvc?} for a card" },
);

export type CredentialValue = z.output<typeof credentialValueSchema>;
export type CardValue = z.output<typeof cardValueSchema>;
export type SecretValue = string | CredentialValue | CardValue;

/** What the API answers as a value: the same shapes, as an allow-list. */
export const secretValueSchema = z.union([
  z.string(),
  z.object({ username: z.string(), password: z.string(), url: z.string().optional() }),
  z.object({
    holder: z.string(),
    number: z.string(),
    expMonth: z.number(),
    expYear: z.number(),
    cvc: z.string().optional(),
  }),
]);

const SCHEMAS: Record<SecretType, z.ZodType<SecretValue>> = {
  generic: textValue,
  password: textValue,
  api_key: textValue,
  note: textValue,
  credential: credentialValueSchema,
  card: cardValueSchema,
};

/**
 * `value` checked against `type`'s rules and normalised (card numbers without spaces).
 * A card must not have expired by `now` (its last valid month is expMonth/expYear).
 * @throws 400 `validation-failed` naming each bad field as `body.value…`.
 */
export function validateSecretValue(type: SecretType, value: unknown, now: Date): SecretValue {
  const parsed = SCHEMAS[type].safeParse(value);
  if (!parsed.success)
    throw validationError(
      parsed.error.issues.map(
        (issue): FieldError => ({
          path: ["body", "value", ...issue.path.map(String)].join("."),
          message: issue.message,
        }),
      ),
    );
  if (type === "card") {
    const card = parsed.data as CardValue;
    const year = now.getUTCFullYear();
    if (card.expYear < year || (card.expYear === year && card.expMonth < now.getUTCMonth() + 1))
      throw validationError([{ path: "body.value.expYear", message: "the card has expired" }]);
  }
  if (
    typeof parsed.data !== "string" &&
    utf8Bytes(JSON.stringify(parsed.data)) > TYPED_VALUE_MAX_BYTES
  )
    throw validationError([
      { path: "body.value", message: `must be at most ${TYPED_VALUE_MAX_BYTES} bytes` },
    ]);
  return parsed.data;
}

/**
 * Marks a typed plaintext. A generic value is stored as its UTF-8 bytes, as before types
 * existed; 0xFF never begins valid UTF-8, so it tells the typed JSON apart from any of them.
 */
const TYPED_MARKER = 0xff;

/** The plaintext to encrypt for one version: one structured value holding type and value. */
export function encodeSecretValue(type: SecretType, value: SecretValue): Buffer {
  if (type === "generic" && typeof value === "string") return Buffer.from(value, "utf8");
  return Buffer.concat([
    Buffer.from([TYPED_MARKER]),
    Buffer.from(JSON.stringify({ type, value }), "utf8"),
  ]);
}

/** The type and value a decrypted version holds (see {@link encodeSecretValue}). */
export function decodeSecretValue(plaintext: Buffer): { type: SecretType; value: SecretValue } {
  if (plaintext[0] !== TYPED_MARKER) return { type: "generic", value: plaintext.toString("utf8") };
  const parsed = JSON.parse(plaintext.subarray(1).toString("utf8")) as {
    type: SecretType;
    value: SecretValue;
  };
  return { type: parsed.type, value: parsed.value };
}

/** A card number for people who have not revealed it: `•••• 4242`. */
export function maskCardNumber(number: string): string {
  return `•••• ${number.slice(-4)}`;
}

import { z } from "zod";
import { secretTypeSchema, secretValueSchema } from "./secret-types.js";

/** Vault slugs (SPEC §3). */
export const VAULT_SLUG_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;
/** Secret names (SPEC §3): what an environment variable or config key looks like. */
export const SECRET_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,127}$/;
/** A secret value: 1 byte to 64 KiB of UTF-8 (SPEC §3). */
export const SECRET_VALUE_MAX_BYTES = 64 * 1024;
/** A note: up to 16 KiB of UTF-8. */
export const SECRET_NOTE_MAX_BYTES = 16 * 1024;
/** Versions kept per secret; older ones are shredded (SPEC §3). */
export const SECRET_VERSIONS_KEPT = 20;
/** `?expiringWithinDays=N` looks at most this far ahead (ten years). */
export const EXPIRING_WITHIN_DAYS_MAX = 3650;
/** A PUT of a secret may be larger than the default JSON limit: 64 KiB escaped can grow 6×. */
export const SECRET_BODY_LIMIT_BYTES = 512 * 1024;

const utf8Bytes = (text: string): number => Buffer.byteLength(text, "utf8");

export const vaultSlugSchema = z.string().regex(VAULT_SLUG_PATTERN, {
  error: "must be 2–63 of a-z, 0-9 and -, starting with a letter or digit",
});
export const secretNameSchema = z.string().regex(SECRET_NAME_PATTERN, {
  error: "must start with a letter or _ and hold at most 128 of A-Z a-z 0-9 _ . -",
});
export const vaultRoleSchema = z.enum(["owner", "editor", "viewer"], {
  error: "must be owner, editor or viewer",
});

export const vaultParams = z.strictObject({ vault: vaultSlugSchema });
export const secretParams = z.strictObject({ vault: vaultSlugSchema, name: secretNameSchema });
export const versionParams = z.strictObject({
  vault: vaultSlugSchema,
  name: secretNameSchema,
  n: z.coerce.number({ error: "must be a version number" }).int().min(1).max(2_147_483_647),
});
export const memberParams = z.strictObject({
  vault: vaultSlugSchema,
  username: z.string().regex(/^[A-Za-z0-9_]{4,25}$/, { error: "is not a username" }),
});

export const createVaultBody = z.strictObject({
  slug: vaultSlugSchema,
  description: z.string().max(500, { error: "must be at most 500 characters" }).optional(),
});
export const updateVaultBody = z.strictObject({
  description: z.string().max(500, { error: "must be at most 500 characters" }),
});
export const putMemberBody = z.strictObject({ role: vaultRoleSchema });
/**
 * When a secret stops being revealable: an RFC 3339 time with an offset (`Z` or `+01:00`),
 * normalised to UTC. Whether it lies in the future is checked against the server's clock
 * by the service (`assertFutureExpiry`), not here. Null: never.
 */
export const expiresAtSchema = z.iso
  .datetime({
    offset: true,
    error: "must be an RFC 3339 time with an offset, e.g. 2030-01-31T12:00:00Z",
  })
  .transform((text) => new Date(text).toISOString())
  .nullable();
export const putSecretBody = z.strictObject({
  /** Absent: the secret keeps its type (`generic` for a new one). */
  type: secretTypeSchema.optional(),
  /**
   * A string, or for `credential` and `card` an object; checked against the type's rules by
   * the service (validateSecretValue), which knows the type an absent `type` stands for.
   */
  value: z.union([
    z
      .string()
      .refine((v) => utf8Bytes(v) >= 1, { error: "must not be empty" })
      .refine((v) => utf8Bytes(v) <= SECRET_VALUE_MAX_BYTES, {
        error: `must be at most ${SECRET_VALUE_MAX_BYTES} bytes`,
      }),
    z.record(z.string(), z.unknown()),
  ]),
  note: z
    .string()
    .refine((v) => utf8Bytes(v) <= SECRET_NOTE_MAX_BYTES, {
      error: `must be at most ${SECRET_NOTE_MAX_BYTES} bytes`,
    })
    .optional(),
  /** Absent: the secret keeps its expiry; null: it never expires; a time: it expires then. */
  expiresAt: expiresAtSchema.optional(),
});
/** PATCH of a secret's metadata (owners): only its expiry, without a new version. */
export const patchSecretBody = z.strictObject({ expiresAt: expiresAtSchema });
export const listSecretsQuery = z.strictObject({
  limit: z.coerce.number({ error: "must be a number" }).int().min(1).max(200).default(50),
  cursor: z.string().max(512).optional(),
  /** Only names containing this (case-insensitive). */
  q: z.string().max(128).optional(),
  /** Only secrets that expire within this many days from now, expired ones included. */
  expiringWithinDays: z.coerce
    .number({ error: "must be a number of days" })
    .int()
    .min(0)
    .max(EXPIRING_WITHIN_DAYS_MAX)
    .optional(),
});

export const vaultResponse = z.object({
  slug: z.string(),
  description: z.string(),
  role: vaultRoleSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
});
export const memberResponse = z.object({
  username: z.string(),
  role: vaultRoleSchema,
  addedAt: z.string(),
});
export const secretMetadataResponse = z.object({
  name: z.string(),
  type: z.string(),
  version: z.number(),
  /** When reveals stop (410 after it); null: never. */
  expiresAt: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export const secretValueResponse = secretMetadataResponse.extend({
  value: secretValueSchema,
  note: z.string().nullable(),
});
export const versionResponse = z.object({
  version: z.number(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
});

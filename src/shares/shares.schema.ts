import { z } from "zod";
import { secretNameSchema, vaultSlugSchema } from "../vaults/vaults.schema.js";

/** Random bytes in a link id: 192 bits, 32 base64url characters. */
export const SHARE_ID_BYTES = 24;
/** Views a link may allow. */
export const SHARE_MAX_VIEWS = 100;
/** Views when the creator does not say. */
export const SHARE_DEFAULT_VIEWS = 1;
/** The longest a link may live: 7 days, in minutes. */
export const SHARE_MAX_MINUTES = 7 * 24 * 60;
/** How long a link lives when the creator does not say: 24 hours, in minutes. */
export const SHARE_DEFAULT_MINUTES = 24 * 60;
/**
 * Largest ciphertext accepted, in bytes: a 64 KiB value with the secret's name, the format
 * header, salt, nonce and tag (see src/web/static/share.js) fits with room to spare.
 */
export const SHARE_CIPHERTEXT_MAX_BYTES = 66 * 1024;
/** Smallest: a header, a nonce and a tag around at least one byte. */
export const SHARE_CIPHERTEXT_MIN_BYTES = 2 + 12 + 16 + 1;
/** Live links one user may have at a time (bounds what one account can make the server store). */
export const SHARES_PER_USER_MAX = 200;
/** A POST carries the ciphertext in base64url: 4/3 of its size plus the JSON around it. */
export const SHARE_BODY_LIMIT_BYTES = 96 * 1024;

export const shareIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{32}$/, { error: "is not a share link id" });

/** A link's id, or its handle (the id's SHA-256, hex, as listings give it): what revokes. */
export const shareIdOrHandleSchema = z
  .string()
  .regex(/^(?:[A-Za-z0-9_-]{32}|[0-9a-f]{64})$/, { error: "is not a share link id or handle" });

export const shareParams = z.strictObject({ id: shareIdSchema });
export const shareRevokeParams = z.strictObject({ id: shareIdOrHandleSchema });
export const secretShareParams = z.strictObject({
  vault: vaultSlugSchema,
  name: secretNameSchema,
});

const base64url = /^[A-Za-z0-9_-]+$/;

export const createShareBody = z.strictObject({
  /** The browser's ciphertext, base64url without padding; the server cannot read it. */
  ciphertext: z
    .string()
    .max(Math.ceil((SHARE_CIPHERTEXT_MAX_BYTES * 4) / 3), {
      error: `must be at most ${SHARE_CIPHERTEXT_MAX_BYTES} bytes`,
    })
    .regex(base64url, { error: "must be base64url without padding" })
    .refine(
      (text) => {
        const bytes = Buffer.from(text, "base64url").length;
        return bytes >= SHARE_CIPHERTEXT_MIN_BYTES && bytes <= SHARE_CIPHERTEXT_MAX_BYTES;
      },
      {
        error: `must hold ${SHARE_CIPHERTEXT_MIN_BYTES} to ${SHARE_CIPHERTEXT_MAX_BYTES} bytes`,
      },
    ),
  maxViews: z
    .number({ error: "must be a number" })
    .int({ error: "must be a whole number" })
    .min(1)
    .max(SHARE_MAX_VIEWS)
    .default(SHARE_DEFAULT_VIEWS),
  expiresInMinutes: z
    .number({ error: "must be a number" })
    .int({ error: "must be a whole number" })
    .min(1)
    .max(SHARE_MAX_MINUTES)
    .default(SHARE_DEFAULT_MINUTES),
});

export const shareResponse = z.object({
  /**
   * At creation, the link's id (the credential in its URL); in listings, its handle (the id's
   * SHA-256, hex), which revokes the link but cannot open it: the id is stored only hashed.
   */
  id: z.string(),
  /** The link without its key, at creation only: the creator's browser appends `#` and the key. */
  url: z.string().optional(),
  vault: z.string(),
  secret: z.string(),
  maxViews: z.number(),
  views: z.number(),
  expiresAt: z.string(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
});

export const sharedCiphertextResponse = z.object({
  ciphertext: z.string(),
  viewsLeft: z.number(),
  expiresAt: z.string(),
});

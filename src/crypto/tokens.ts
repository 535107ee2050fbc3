import { createHash, createHmac } from "node:crypto";
import { constantTimeEqual } from "../lib/constant-time.js";
import { randomKeyBytes } from "../lib/random.js";
import type { SecretBytes } from "../lib/secret-bytes.js";

/** Bytes of randomness in every bearer secret we issue: 256 bits. */
export const TOKEN_BYTES = 32;

/** A new random token (session cookie, reset link, registration link): 256 bits, base64url. */
export function generateToken(): string {
  return randomKeyBytes(TOKEN_BYTES).toString("base64url");
}

/**
 * What we store instead of a token: its SHA-256, hex. A fast hash is right here because the
 * token has 256 bits of entropy; a stolen database yields nothing that can be presented.
 */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/**
 * A MAC of `purpose` and `subject` under `SECRET_KEY`, base64url. Used for the CSRF token
 * bound to a session: it needs no storage, differs per session, and cannot be computed
 * without the key.
 */
export function macToken(key: SecretBytes, purpose: string, subject: string): string {
  return createHmac("sha256", key.reveal())
    .update(`${purpose}\0${subject}`, "utf8")
    .digest("base64url");
}

/** Checks a presented MAC token in constant time. */
export function verifyMacToken(
  key: SecretBytes,
  purpose: string,
  subject: string,
  presented: string,
): boolean {
  return constantTimeEqual(macToken(key, purpose, subject), presented);
}

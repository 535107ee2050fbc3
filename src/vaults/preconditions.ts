import { z } from "zod";
import { AppError } from "../lib/errors.js";

/**
 * What a write expects of the secret it changes (optimistic locking, RFC 9110 §13.1):
 * - `{ kind: "exists" }` — the secret exists, at any version (`If-Match: *`);
 * - `{ kind: "absent" }` — no secret of that name exists yet (`If-None-Match: *`);
 * - `{ kind: "versions", versions }` — the secret's current version is one of these
 *   (`If-Match: "3"`); an empty list never matches.
 * Checked under the secret's row lock, so no write can slip in between check and write.
 */
export type VersionPrecondition =
  | { kind: "exists" }
  | { kind: "absent" }
  | { kind: "versions"; versions: readonly number[] };

/** A version number in an entity-tag: what `ETag` carries, `"<version>"`. */
const VERSION_TAG = /^[1-9][0-9]{0,9}$/;
/** `*` or a comma-separated list of entity-tags (RFC 9110 §8.8.3, §13.1.1). */
const IF_MATCH_SYNTAX =
  /^[ \t]*(?:\*|(?:W\/)?"[\x21\x23-\x7e]*"(?:[ \t]*,[ \t]*(?:W\/)?"[\x21\x23-\x7e]*")*)[ \t]*$/;

/** Conditional-request headers a secret write accepts; other headers pass through untouched. */
export const writePreconditionHeaders = z.looseObject({
  "if-match": z
    .string()
    .max(1024)
    .regex(IF_MATCH_SYNTAX, { error: 'must be * or a list of quoted versions such as "3"' })
    .optional()
    .describe('Write only if the secret is at this version (its ETag, e.g. "3"); * for any.'),
  "if-none-match": z
    .literal("*", { error: "must be * (create only)" })
    .optional()
    .describe("* to write only if no secret of this name exists yet."),
});

/**
 * The precondition the `If-Match` / `If-None-Match` headers state, or null for none. Weak
 * tags (`W/"3"`) never match (If-Match uses the strong comparison); tags that are not
 * version numbers never match either. Both headers at once: If-Match wins, as it must be
 * evaluated first (RFC 9110 §13.2.2), and with it `If-None-Match: *` cannot hold anyway.
 */
export function preconditionFromHeaders(headers: {
  "if-match"?: string | undefined;
  "if-none-match"?: string | undefined;
}): VersionPrecondition | null {
  const ifMatch = headers["if-match"]?.trim();
  if (ifMatch !== undefined) {
    if (ifMatch === "*") return { kind: "exists" };
    const versions: number[] = [];
    for (const [, weak, tag] of ifMatch.matchAll(/(W\/)?"([^"]*)"/g))
      if (weak === undefined && tag !== undefined && VERSION_TAG.test(tag))
        versions.push(Number(tag));
    return { kind: "versions", versions };
  }
  if (headers["if-none-match"] !== undefined) return { kind: "absent" };
  return null;
}

/**
 * Throws 412 `precondition-failed` unless the secret's current version (null: no such
 * secret) satisfies `precondition`. No precondition always holds.
 */
export function checkPrecondition(
  precondition: VersionPrecondition | null | undefined,
  currentVersion: number | null,
): void {
  if (precondition === null || precondition === undefined) return;
  let holds: boolean;
  let detail: string;
  switch (precondition.kind) {
    case "exists":
      holds = currentVersion !== null;
      detail = "There is no such secret to update (If-Match: *).";
      break;
    case "absent":
      holds = currentVersion === null;
      detail = `The secret already exists, at version ${currentVersion}.`;
      break;
    case "versions":
      holds = currentVersion !== null && precondition.versions.includes(currentVersion);
      detail =
        currentVersion === null
          ? "There is no such secret, so it is at no version."
          : `The secret is at version ${currentVersion}, not the version the request expected; nothing was written.`;
      break;
  }
  if (!holds) throw new PreconditionFailedError(detail, currentVersion);
}

/** 412: the secret changed since the caller read it (or exists / does not, against `*`). */
export class PreconditionFailedError extends AppError {
  /** The secret's version now, null when there is none; for pages to say what happened. */
  readonly currentVersion: number | null;
  constructor(detail: string, currentVersion: number | null) {
    super("precondition-failed", 412, "Precondition failed", {
      detail,
      // The current ETag, so a client can fetch, merge and try again knowingly.
      headers: currentVersion === null ? {} : { etag: `"${currentVersion}"` },
    });
    this.currentVersion = currentVersion;
  }
}

import { z } from "zod";

/** Events per page of `GET /audit` when `limit` is not given. */
export const AUDIT_PAGE_DEFAULT = 50;
/** The largest `limit` `GET /audit` accepts. */
export const AUDIT_PAGE_MAX = 200;

/** Cursor payloads are `v1:<seq>`; the version leaves room to change the format later. */
const CURSOR_PAYLOAD = /^v1:([1-9][0-9]{0,15})$/;
const BASE64URL = /^[A-Za-z0-9_-]{1,64}$/;

/** The opaque `nextCursor` for a page that continues below `seq`. */
export function encodeAuditCursor(seq: number): string {
  return Buffer.from(`v1:${seq}`, "utf8").toString("base64url");
}

/**
 * The `seq` a cursor from {@link encodeAuditCursor} continues below, or null when `cursor` is
 * not exactly such a cursor (wrong alphabet, non-canonical base64url, another payload, a
 * number beyond 2^53). A cursor is not signed: it only says where to resume in a log the
 * caller may read in full anyway, so a made-up position grants nothing — but anything that
 * is not a well-formed position is refused rather than guessed at.
 */
export function decodeAuditCursor(cursor: string): number | null {
  if (!BASE64URL.test(cursor)) return null;
  const payload = Buffer.from(cursor, "base64url");
  if (payload.toString("base64url") !== cursor) return null;
  const match = CURSOR_PAYLOAD.exec(payload.toString("utf8"));
  const seq = Number(match?.[1]);
  return match !== null && Number.isSafeInteger(seq) ? seq : null;
}

/** An RFC 3339 time with an offset (`Z` or `±hh:mm`), normalised to ISO-8601 UTC. */
const rfc3339 = z.iso
  .datetime({ offset: true, error: "must be an RFC 3339 time, e.g. 2025-01-31T12:00:00Z" })
  .transform((text) => new Date(text).toISOString());

/** `GET /audit` query string. `since` is inclusive and `until` exclusive. */
export const auditQuerySchema = z
  .strictObject({
    actor: z
      .string()
      .regex(/^[A-Za-z0-9_]{1,25}$/, { error: "must be a username" })
      .optional(),
    action: z
      .string()
      .regex(/^[a-z][a-z0-9._-]{0,63}$/, { error: "must be an action name, e.g. login.success" })
      .optional(),
    since: rfc3339.optional(),
    until: rfc3339.optional(),
    limit: z
      .string()
      .regex(/^[0-9]{1,3}$/, { error: `must be a whole number from 1 to ${AUDIT_PAGE_MAX}` })
      .transform(Number)
      .pipe(
        z
          .number()
          .int()
          .min(1, { error: `must be a whole number from 1 to ${AUDIT_PAGE_MAX}` })
          .max(AUDIT_PAGE_MAX, { error: `must be a whole number from 1 to ${AUDIT_PAGE_MAX}` }),
      )
      .default(AUDIT_PAGE_DEFAULT),
    cursor: z
      .string()
      .transform((text, ctx) => {
        const seq = decodeAuditCursor(text);
        if (seq === null) {
          ctx.addIssue({ code: "custom", message: "is not a cursor this API returned" });
          return z.NEVER;
        }
        return seq;
      })
      .optional(),
  })
  .refine((query) => !(query.since && query.until) || query.since < query.until, {
    error: "must be later than since",
    path: ["until"],
  });

/** Detail values are flat: `recordAuditEvent` only accepts these. */
const detailValue = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/** One event as `GET /audit` shows it: never the chain columns or internal ids. */
export const auditEventResponse = z.object({
  id: z.string(),
  at: z.string(),
  /** The actor's username (or `cli`), null when unknown (e.g. an anonymous attempt). */
  actor: z.string().nullable(),
  action: z.string(),
  target: z.string().nullable(),
  address: z.string().nullable(),
  outcome: z.string(),
  details: z.record(z.string(), detailValue).nullable(),
});

export const auditPageResponse = z.object({
  events: z.array(auditEventResponse),
  nextCursor: z.string().nullable(),
});

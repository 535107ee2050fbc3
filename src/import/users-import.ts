/**
 * `strongroom import users`: accounts from another application, as CSV with a header row or
 * a JSON array, with the password hashes that application stored. Every row is validated
 * before anything is written; messages name a row and a field, never a hash.
 */
import { parse as parseCsv } from "csv-parse/sync";
import { z } from "zod";
import { emailKey, emailSchema, usernameKey, usernameSchema } from "../accounts/accounts.schema.js";
import type { PasswordHashKind } from "../crypto/legacy-passwords.js";
import { identifyPasswordHash } from "../crypto/legacy-passwords.js";
import { isVerifiablePasswordHash } from "../crypto/passwords.js";
import type { ImportProblem } from "./import-file.js";
import { ImportFileError, printableName } from "./import-file.js";

/** The largest file accepted. */
export const USERS_IMPORT_MAX_FILE_BYTES = 16 * 1024 * 1024;
/** Most rows in one file: they are created in one transaction. */
export const USERS_IMPORT_MAX_ROWS = 100_000;

export type UsersFileFormat = "csv" | "json";

/** The columns (CSV) or keys (JSON) of a row; `role` may be left out (then `member`). */
export const USER_FIELDS = ["username", "email", "password_hash", "role"] as const;
const REQUIRED_FIELDS = ["username", "email", "password_hash"] as const;

/** One row as read, before validation: where it is and its fields as found. */
export interface RawUserRow {
  /** `line 3` (CSV) or `entry 3` (JSON, counting from 1). */
  where: string;
  fields: Record<string, unknown>;
}

/** One validated account to create. */
export interface ImportedUser {
  where: string;
  username: string;
  email: string;
  passwordHash: string;
  role: "admin" | "auditor" | "member";
  hashKind: PasswordHashKind;
}

/** The format named by `--format`, else by the file's extension; null when neither says. */
export function usersFileFormat(path: string, format?: string): UsersFileFormat | null {
  const chosen = format ?? /\.(csv|json)$/i.exec(path)?.[1]?.toLowerCase();
  return chosen === "csv" || chosen === "json" ? chosen : null;
}

/**
 * Reads the rows of a users file. Structural problems of single rows (a CSV row with the
 * wrong number of fields, a JSON entry that is not an object) are returned as problems; a
 * file that cannot be read as a whole throws.
 * @throws ImportFileError for malformed CSV or JSON, a bad header, no rows or too many.
 */
export function readUserRows(
  text: string,
  format: UsersFileFormat,
): { rows: RawUserRow[]; problems: ImportProblem[] } {
  const read = format === "csv" ? readCsvRows(text) : readJsonRows(text);
  if (read.rows.length + read.problems.length === 0) throw new ImportFileError("holds no users");
  if (read.rows.length + read.problems.length > USERS_IMPORT_MAX_ROWS) {
    throw new ImportFileError(`holds more than ${USERS_IMPORT_MAX_ROWS} users`);
  }
  return read;
}

/** The messages csv-parse gives can quote bytes of the row, so only its code is used. */
const CSV_ERRORS: Readonly<Record<string, string>> = {
  CSV_QUOTE_NOT_CLOSED: "a quoted field is not closed",
  CSV_INVALID_CLOSING_QUOTE: "a quote inside a field is not doubled",
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: "text after a closing quote",
};

function readCsvRows(text: string): { rows: RawUserRow[]; problems: ImportProblem[] } {
  let records: Array<{ record: string[]; info: { lines: number } }>;
  try {
    // With `info: true` each record comes as { record, info }, which csv-parse's types omit.
    records = parseCsv(text, {
      info: true,
      skip_empty_lines: true,
      trim: true,
      // Rows with too few or too many fields are reported one by one below.
      relax_column_count: true,
      record_delimiter: ["\r\n", "\n", "\r"],
    }) as unknown as typeof records;
  } catch (error) {
    const { code, lines } = error as { code?: string; lines?: number };
    const what = (code !== undefined && CSV_ERRORS[code]) || "not valid CSV";
    throw new ImportFileError(`is not valid CSV: line ${lines ?? "?"}: ${what}`);
  }
  const [header, ...body] = records;
  if (header === undefined) return { rows: [], problems: [] };
  const columns = header.record.map((name) => name.toLowerCase());
  for (const [index, column] of columns.entries()) {
    if (!(USER_FIELDS as readonly string[]).includes(column)) {
      throw new ImportFileError(
        `line 1: unknown column ${printableName(column)} (the header is ${USER_FIELDS.join(",")})`,
      );
    }
    if (columns.indexOf(column) !== index)
      throw new ImportFileError(`line 1: column ${column} appears twice`);
  }
  for (const required of REQUIRED_FIELDS) {
    if (!columns.includes(required))
      throw new ImportFileError(`line 1: the header has no ${required} column`);
  }
  const rows: RawUserRow[] = [];
  const problems: ImportProblem[] = [];
  for (const { record, info } of body) {
    // info.lines is the line a record ends on; a quoted field may span several.
    const newlines = record.reduce((n, field) => n + (field.match(/\r\n|\r|\n/g)?.length ?? 0), 0);
    const where = `line ${info.lines - newlines}`;
    if (record.length !== columns.length) {
      problems.push({
        where,
        message: `has ${record.length} fields; the header has ${columns.length}`,
      });
      continue;
    }
    rows.push({ where, fields: Object.fromEntries(columns.map((c, i) => [c, record[i]])) });
  }
  return { rows, problems };
}

function readJsonRows(text: string): { rows: RawUserRow[]; problems: ImportProblem[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ImportFileError("is not JSON (expected an array of user objects)");
  }
  if (!Array.isArray(parsed)) throw new ImportFileError("is not a JSON array of user objects");
  const rows: RawUserRow[] = [];
  const problems: ImportProblem[] = [];
  for (const [index, entry] of parsed.entries()) {
    const where = `entry ${index + 1}`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      problems.push({ where, message: "is not an object" });
      continue;
    }
    rows.push({ where, fields: entry as Record<string, unknown> });
  }
  return { rows, problems };
}

const rowSchema = z.strictObject({
  username: usernameSchema,
  email: emailSchema,
  // Only the format is judged here (never echoed): isVerifiablePasswordHash below.
  password_hash: z.string({ error: "must be a string" }).min(1, { error: "is empty" }),
  role: z
    .enum(["admin", "auditor", "member"], { error: "must be admin, auditor or member" })
    .default("member"),
});

/**
 * Validates every row: the schema (a missing or empty role means `member`), a password hash
 * Strongroom can verify, and no username or e-mail address twice in the file. Problems come
 * one per field, in file order.
 */
export function validateUserRows(rows: readonly RawUserRow[]): {
  users: ImportedUser[];
  problems: ImportProblem[];
} {
  const users: ImportedUser[] = [];
  const problems: ImportProblem[] = [];
  const seenUsernames = new Map<string, string>();
  const seenEmails = new Map<string, string>();
  for (const row of rows) {
    const fields = { ...row.fields };
    if (fields.role === "" || fields.role === null) delete fields.role;
    const parsed = rowSchema.safeParse(fields);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        const unknownKeys = issue.code === "unrecognized_keys" ? issue.keys : [];
        for (const key of unknownKeys)
          problems.push({ where: row.where, message: `${printableName(key)}: unknown field` });
        if (unknownKeys.length > 0) continue;
        const field = String(issue.path[0] ?? "row");
        const missing = fields[field] === undefined || fields[field] === null;
        problems.push({
          where: row.where,
          message: `${field}: ${missing ? "is missing" : issue.message}`,
        });
      }
      continue;
    }
    const { username, email, password_hash: passwordHash, role } = parsed.data;
    const rowProblems: string[] = [];
    const hashKind = identifyPasswordHash(passwordHash);
    if (!isVerifiablePasswordHash(passwordHash)) {
      rowProblems.push(
        hashKind === "unknown"
          ? "password_hash: not a format Strongroom can verify (bcrypt, Werkzeug pbkdf2 or scrypt, Argon2)"
          : `password_hash: a ${hashKind} hash, but malformed or with costs beyond Strongroom's limits`,
      );
    }
    const firstUsername = seenUsernames.get(usernameKey(username));
    if (firstUsername !== undefined) rowProblems.push(`username: the same as on ${firstUsername}`);
    else seenUsernames.set(usernameKey(username), row.where);
    const firstEmail = seenEmails.get(emailKey(email));
    if (firstEmail !== undefined) rowProblems.push(`email: the same as on ${firstEmail}`);
    else seenEmails.set(emailKey(email), row.where);
    for (const message of rowProblems) problems.push({ where: row.where, message });
    if (rowProblems.length === 0)
      users.push({ where: row.where, username, email, passwordHash, role, hashKind });
  }
  return { users, problems };
}

/** Problems for rows whose username or e-mail address an existing account already has. */
export function findTakenUsers(
  users: readonly ImportedUser[],
  taken: { usernameKeys: ReadonlySet<string>; emailKeys: ReadonlySet<string> },
): ImportProblem[] {
  const problems: ImportProblem[] = [];
  for (const user of users) {
    if (taken.usernameKeys.has(usernameKey(user.username)))
      problems.push({ where: user.where, message: "username: already taken by an existing user" });
    if (taken.emailKeys.has(emailKey(user.email)))
      problems.push({ where: user.where, message: "email: already used by an existing user" });
  }
  return problems;
}

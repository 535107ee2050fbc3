/**
 * `strongroom import fernet`: the file a Python app exports, `{ "NAME": "<fernet token>" }`,
 * checked and decrypted as a whole before anything is written. Values are decrypted into
 * memory only; no message here ever holds a value, a token or the key.
 */
import { open } from "node:fs/promises";
import { decryptFernet, FernetError, parseFernetKey } from "../crypto/fernet.js";
import { SECRET_NAME_PATTERN, SECRET_VALUE_MAX_BYTES } from "../vaults/vaults.schema.js";
import type { ImportProblem } from "./import-file.js";
import { ImportFileError, printableName } from "./import-file.js";

/** A decoded Fernet key: signing and encryption halves. */
export type FernetKey = ReturnType<typeof parseFernetKey>;

/** The largest file accepted: room for many large secrets, far below memory trouble. */
export const FERNET_IMPORT_MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Most entries in one file: they are written in one transaction. */
export const FERNET_IMPORT_MAX_ENTRIES = 10_000;
/** A key file holds one base64url key (44 characters) and perhaps a newline. */
const KEY_FILE_MAX_BYTES = 1024;

/** One secret ready to store. */
export interface ImportedSecret {
  name: string;
  value: string;
}

/**
 * Parses the export: a JSON object of name → token. Entries keep the file's order. The
 * values are not looked at here (see decryptFernetExport).
 * @throws ImportFileError when the text is not JSON, not an object, empty or too big.
 */
export function parseFernetExport(text: string): Array<[name: string, token: unknown]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ImportFileError('is not JSON (expected {"NAME": "<fernet token>", …})');
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new ImportFileError('is not a JSON object (expected {"NAME": "<fernet token>", …})');
  }
  // JSON.parse makes "__proto__" an own property, so no entry is lost or turned into a prototype.
  const entries = Object.entries(parsed);
  if (entries.length === 0) throw new ImportFileError("holds no secrets");
  if (entries.length > FERNET_IMPORT_MAX_ENTRIES) {
    throw new ImportFileError(
      `holds ${entries.length} secrets; at most ${FERNET_IMPORT_MAX_ENTRIES} can be imported at once`,
    );
  }
  return entries;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Checks and decrypts every entry: the name must be a valid secret name, the token a string
 * that verifies and decrypts under `key` (its age is not checked), and the value 1 byte to
 * 64 KiB of UTF-8. Bad entries are listed by name, in file order, with a reason that never
 * contains the value or the token.
 */
export function decryptFernetExport(
  key: FernetKey,
  entries: ReadonlyArray<readonly [string, unknown]>,
): { secrets: ImportedSecret[]; problems: ImportProblem[] } {
  const secrets: ImportedSecret[] = [];
  const problems: ImportProblem[] = [];
  for (const [name, token] of entries) {
    const problem = (message: string): void => {
      problems.push({ where: printableName(name), message });
    };
    if (!SECRET_NAME_PATTERN.test(name)) {
      problem("not a valid secret name (a letter or _, then up to 127 of A-Z a-z 0-9 _ . -)");
      continue;
    }
    if (typeof token !== "string") {
      problem("the value is not a string (a Fernet token)");
      continue;
    }
    let plaintext: Buffer;
    try {
      plaintext = decryptFernet(key, token);
    } catch (error) {
      if (!(error instanceof FernetError)) throw error;
      problem(error.message);
      continue;
    }
    try {
      if (plaintext.length === 0) problem("the decrypted value is empty");
      else if (plaintext.length > SECRET_VALUE_MAX_BYTES)
        problem(`the decrypted value is larger than ${SECRET_VALUE_MAX_BYTES} bytes`);
      else secrets.push({ name, value: decodeUtf8(plaintext) });
    } catch {
      problem("the decrypted value is not UTF-8 text");
    } finally {
      plaintext.fill(0);
    }
  }
  return { secrets, problems };
}

function decodeUtf8(bytes: Buffer): string {
  return UTF8.decode(bytes);
}

/**
 * Reads a Fernet key from a file, refusing one that the group or others may read or write
 * (as ssh does for private keys): the key decrypts everything the Python app stored.
 * @throws ImportFileError for a missing, unreadable, too open or malformed key file.
 */
export async function readFernetKeyFile(path: string): Promise<FernetKey> {
  let text: string;
  try {
    const handle = await open(path, "r");
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new ImportFileError(`${path} is not a regular file`);
      if ((stat.mode & 0o077) !== 0) {
        const mode = (stat.mode & 0o777).toString(8).padStart(4, "0");
        throw new ImportFileError(
          `${path} is accessible by group or others (mode ${mode}); run chmod 600 on it`,
        );
      }
      if (stat.size > KEY_FILE_MAX_BYTES) throw new ImportFileError(`${path} is not a key file`);
      text = await handle.readFile("utf8");
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof ImportFileError) throw error;
    const code = (error as { code?: unknown } | null)?.code;
    throw new ImportFileError(
      `${path}: ${code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : "cannot be read"}`,
    );
  }
  return parseKeyText(text, path);
}

/**
 * Parses a key given on the command line or in `FERNET_KEY`, naming `origin` in the error.
 * @throws ImportFileError when it is not 32 bytes of base64url.
 */
export function parseKeyText(text: string, origin: string): FernetKey {
  try {
    return parseFernetKey(text.trim());
  } catch (error) {
    if (error instanceof FernetError) throw new ImportFileError(`${origin}: ${error.message}`);
    throw error;
  }
}

import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomKeyBytes } from "../lib/random.js";
import { SecretBytes } from "../lib/secret-bytes.js";
import { decodeKeyText, describeKeyWeakness, MIN_KEY_BYTES } from "./key-strength.js";

/** One key-encryption key. The first in the list is current; all are accepted to unwrap. */
export interface MasterKey {
  id: string;
  key: SecretBytes;
}

/** A problem with a key; `weak` ones are refused in production and warned about elsewhere. */
export interface KeyProblem {
  variable: "SECRET_KEY" | "MASTER_KEY";
  message: string;
  kind: "invalid" | "weak";
}

const MASTER_KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
/** Master keys are AES-256 keys: exactly 32 bytes. */
export const MASTER_KEY_BYTES = 32;

/** Parses `SECRET_KEY` (hex or base64, ≥ 32 bytes). Never echoes the value in messages. */
export function parseSecretKey(text: string): { key: SecretBytes | null; problems: KeyProblem[] } {
  const bytes = decodeKeyText(text);
  if (bytes === null) {
    return {
      key: null,
      problems: [{ variable: "SECRET_KEY", kind: "invalid", message: "must be hex or base64" }],
    };
  }
  const problems: KeyProblem[] = [];
  if (bytes.length < MIN_KEY_BYTES) {
    problems.push({
      variable: "SECRET_KEY",
      kind: "invalid",
      message: `decodes to ${bytes.length} bytes; at least ${MIN_KEY_BYTES} are required`,
    });
  } else {
    const weakness = describeKeyWeakness(text, bytes);
    if (weakness !== null)
      problems.push({ variable: "SECRET_KEY", kind: "weak", message: weakness });
  }
  return { key: new SecretBytes(bytes), problems };
}

/**
 * Parses `MASTER_KEY`: `id:base64key[,id:base64key…]`, first is current, ids unique, each key
 * exactly 32 bytes. Messages name the entry by position and id, never by value.
 */
export function parseMasterKeys(text: string): { keys: MasterKey[]; problems: KeyProblem[] } {
  const keys: MasterKey[] = [];
  const problems: KeyProblem[] = [];
  text
    .split(",")
    .map((entry) => entry.trim())
    .forEach((entry, index) => {
      const parsed = parseMasterKeyEntry(entry, `entry ${index + 1}`, keys);
      if (typeof parsed === "string") {
        problems.push({ variable: "MASTER_KEY", kind: "invalid", message: parsed });
        return;
      }
      const weakness = describeKeyWeakness(parsed.text, parsed.key.key.reveal());
      if (weakness !== null) {
        problems.push({
          variable: "MASTER_KEY",
          kind: "weak",
          message: `key "${parsed.key.id}" ${weakness}`,
        });
      }
      keys.push(parsed.key);
    });
  return { keys, problems };
}

/** One `id:base64key` entry, or why it is invalid. */
function parseMasterKeyEntry(
  entry: string,
  position: string,
  earlier: readonly MasterKey[],
): { key: MasterKey; text: string } | string {
  const colon = entry.indexOf(":");
  if (colon < 0) return `${position} must be written id:base64key`;
  const id = entry.slice(0, colon);
  const keyText = entry.slice(colon + 1);
  if (!MASTER_KEY_ID.test(id)) return `${position} has an invalid id (1–32 of A-Z a-z 0-9 _ -)`;
  if (earlier.some((key) => key.id === id)) return `key id "${id}" appears twice`;
  const bytes = decodeKeyText(keyText);
  if (bytes === null) return `key "${id}" is not base64`;
  if (bytes.length !== MASTER_KEY_BYTES) {
    return `key "${id}" decodes to ${bytes.length} bytes; exactly ${MASTER_KEY_BYTES} are required`;
  }
  return { key: { id, key: new SecretBytes(bytes) }, text: keyText };
}

/** A new master key entry, `id:base64key`, for `strongroom keys generate` and development. */
export function generateMasterKeyEntry(id: string): string {
  return `${id}:${randomKeyBytes(MASTER_KEY_BYTES).toString("base64")}`;
}

/** A new `SECRET_KEY` value: 32 random bytes, base64url. */
export function generateSecretKeyText(): string {
  return randomKeyBytes(MIN_KEY_BYTES).toString("base64url");
}

/**
 * Development only: reads `name` from `dataDir`, or creates it with `create()` with mode 0600
 * (the directory 0700). Returns the text and whether it was just created. Refuses a file that
 * other users can read, since it holds a key.
 */
export function readOrCreateKeyFile(
  dataDir: string,
  name: string,
  create: () => string,
): { text: string; created: boolean; problem: string | null } {
  const path = join(dataDir, name);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    const text = readFileSync(path, "utf8").trim();
    const mode = statSync(path).mode & 0o777;
    const problem =
      (mode & 0o077) !== 0 ? `${path} is readable by other users (chmod 600 it)` : null;
    return { text, created: false, problem };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const text = create();
  writeFileSync(path, `${text}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600); // the umask cannot widen it, but be explicit
  return { text, created: true, problem: null };
}

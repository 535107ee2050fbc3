import { open } from "node:fs/promises";

/** An import file that cannot be used as a whole. The message is safe to show. */
export class ImportFileError extends Error {
  override name = "ImportFileError";
}

/** One bad entry or row: where it is (a secret's name, `line 3`), and what is wrong. */
export interface ImportProblem {
  where: string;
  message: string;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads a whole import file as UTF-8 text (a leading byte order mark is dropped). It must be
 * a regular file of at most `maxBytes`: the size is checked on the opened file before
 * reading, and no more than `maxBytes` are read even if it grows meanwhile.
 * @throws ImportFileError when it is missing, unreadable, not a file, too large or not UTF-8.
 */
export async function readImportFile(path: string, maxBytes: number): Promise<string> {
  let bytes: Buffer;
  try {
    const handle = await open(path, "r");
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new ImportFileError(`${path} is not a regular file`);
      if (stat.size > maxBytes) throw tooLarge(path, maxBytes);
      const buffer = Buffer.alloc(maxBytes + 1);
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length > maxBytes) throw tooLarge(path, maxBytes);
      }
      bytes = buffer.subarray(0, length);
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (error instanceof ImportFileError) throw error;
    throw new ImportFileError(`${path}: ${describeFileError(error)}`);
  }
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new ImportFileError(`${path} is not UTF-8 text`);
  }
}

function tooLarge(path: string, maxBytes: number): ImportFileError {
  return new ImportFileError(`${path} is larger than ${formatBytes(maxBytes)}`);
}

/** `64 MiB`, `512 KiB` or `100 bytes`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

function describeFileError(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === "ENOENT") return "no such file";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "EISDIR") return "is a directory, not a file";
  return typeof code === "string" ? `cannot be read (${code})` : "cannot be read";
}

/**
 * A name from an import file as it can be shown on a terminal: itself when it is plain
 * printable ASCII (every valid secret name is), otherwise quoted with everything else
 * escaped, so a hostile file cannot send control sequences to the operator's terminal.
 * Long names are cut to 64 characters.
 */
export function printableName(name: string): string {
  if (/^[\x21-\x7e]{1,64}$/.test(name) && !name.includes('"')) return name;
  const escaped = [...name.slice(0, 64)]
    .map((char) =>
      /^[\x20-\x7e]$/.test(char) && char !== '"' && char !== "\\"
        ? char
        : `\\u{${(char.codePointAt(0) ?? 0).toString(16)}}`,
    )
    .join("");
  return `"${escaped}"${name.length > 64 ? "…" : ""}`;
}

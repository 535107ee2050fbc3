import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Where the static files live. */
export const STATIC_ROOT = fileURLToPath(new URL("./static/", import.meta.url));

/** Content hash (first 16 hex of SHA-256) of every static file, read once at start. */
const HASHES: ReadonlyMap<string, string> = new Map(
  readdirSync(STATIC_ROOT, { withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => [
      entry.name,
      createHash("sha256")
        .update(readFileSync(`${STATIC_ROOT}${entry.name}`))
        .digest("hex")
        .slice(0, 16),
    ]),
);

/**
 * The URL of a static file with its content hash, e.g. `/static/app.css?v=3f2a…`. A changed
 * file gets a new URL, so browsers may cache each URL for a year without going stale.
 * @throws Error for a file that does not exist (a typo in a page must not ship).
 */
export function assetUrl(name: string): string {
  const hash = HASHES.get(name);
  if (hash === undefined) throw new Error(`no static file named ${name}`);
  return `/static/${name}?v=${hash}`;
}

/** The current content hash of `name`, or null. */
export function assetHash(name: string): string | null {
  return HASHES.get(name) ?? null;
}

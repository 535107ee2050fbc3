// Which code the CLI runs: dist/ (plain JavaScript built by scripts/build.js at `npm install`)
// while that build is newer than every file in src/, else the TypeScript sources through
// tsx's loader. Kept apart from bin/strongroom.js so a test can check the choice on a
// directory tree of its own.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

/** The newest modification time of any file under `dir`, in milliseconds. */
function newestIn(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestIn(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * "dist" when `root`/dist/BUILD (written last by a successful build) is at least as new as
 * every file under `root`/src, else "src". `STRONGROOM_FROM_SOURCE=1` always picks "src".
 */
export function chooseEntry(root, env = process.env) {
  if (env.STRONGROOM_FROM_SOURCE === "1") return "src";
  try {
    return statSync(join(root, "dist", "BUILD")).mtimeMs >= newestIn(join(root, "src"))
      ? "dist"
      : "src";
  } catch {
    return "src";
  }
}

/**
 * bin/launch.js: the CLI runs the build in dist/ only while it is current, so an edited
 * source is never shadowed by an old build; and both ways of running work.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
// @ts-expect-error: plain JavaScript without declarations, run before any TypeScript loads.
import { chooseEntry } from "../bin/launch.js";
import { CLI } from "./helpers/process.js";

const pick = chooseEntry as (root: string, env?: NodeJS.ProcessEnv) => "dist" | "src";

function tree(): { root: string; touch(path: string, secondsAgo: number): void } {
  const root = mkdtempSync(join(tmpdir(), "strongroom-launch-"));
  return {
    root,
    touch(path, secondsAgo) {
      const full = join(root, path);
      mkdirSync(join(full, ".."), { recursive: true });
      writeFileSync(full, "");
      const at = new Date(Date.now() - secondsAgo * 1000);
      utimesSync(full, at, at);
    },
  };
}

test("the build runs only while it is newer than every source file", () => {
  const { root, touch } = tree();
  try {
    touch("src/main.ts", 100);
    touch("src/web/static/app.css", 90);
    assert.equal(pick(root, {}), "src", "no build at all");
    touch("dist/cli/main.js", 50);
    assert.equal(pick(root, {}), "src", "a build without its stamp is unfinished");
    touch("dist/BUILD", 50);
    assert.equal(pick(root, {}), "dist");
    assert.equal(pick(root, { STRONGROOM_FROM_SOURCE: "1" }), "src", "forced");
    touch("src/vaults/deep/er/secrets.ts", 10);
    assert.equal(pick(root, {}), "src", "a source edited after the build");
    touch("dist/BUILD", 0);
    assert.equal(pick(root, {}), "dist", "rebuilt");
    touch("src/web/static/app.css", -5);
    assert.equal(pick(root, {}), "src", "an asset changed after the build");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("the CLI answers the same from the sources as from whatever the launcher picks", () => {
  const run = (env: NodeJS.ProcessEnv) =>
    execFileSync(process.execPath, [CLI, "--help"], {
      env: { PATH: process.env.PATH, ...env },
      encoding: "utf8",
    });
  const fromSource = run({ STRONGROOM_FROM_SOURCE: "1" });
  assert.match(fromSource, /^Usage: strongroom/);
  assert.equal(run({}), fromSource);
});

#!/usr/bin/env node
// `npm run build` (also run by `npm install` through `prepare`): transpiles src/ to plain
// JavaScript in dist/, file for file, and copies the web assets beside it. The server then
// starts without compiling TypeScript at every start (tsx's loader thread costs about 0.8 s
// and 45 MiB). No bundling, no type checking (`npm run typecheck` does that): esbuild only
// strips types and turns JSX into preact calls, so dist/ runs exactly what src/ says.
//
// bin/strongroom.js uses dist/ only while it is newer than every file in src/ (see
// `isBuildFresh`), so an edited source is never shadowed by an old build.
import { cpSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const src = join(root, "src");
const dist = join(root, "dist");

/** Files under `dir` (outside web/static) whose names match `pattern`, tests excluded. */
function sources(dir, pattern) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "static" ? [] : sources(path, pattern);
    return pattern.test(entry.name) && !/\.test\.[jt]sx?$/.test(entry.name) ? [path] : [];
  });
}

const started = performance.now();
rmSync(dist, { recursive: true, force: true });
await build({
  entryPoints: sources(src, /\.tsx?$/),
  outdir: dist,
  outbase: src,
  format: "esm",
  platform: "node",
  target: "node20",
  jsx: "automatic",
  jsxImportSource: "preact",
  sourcemap: "linked",
  logLevel: "warning",
});
cpSync(join(src, "web", "static"), join(dist, "web", "static"), { recursive: true });
// Plain JavaScript in src/ (worker threads' entry points, which tsx cannot load) as it is.
for (const file of sources(src, /\.js$/)) {
  const target = join(dist, relative(src, file));
  mkdirSync(join(target, ".."), { recursive: true });
  cpSync(file, target);
}
// Written last: a build that failed half-way has no stamp and is never used.
writeFileSync(join(dist, "BUILD"), `${new Date().toISOString()}\n`);
console.log(
  `built ${relative(root, dist)}/ from ${relative(root, src)}/ in ${Math.round(performance.now() - started)} ms`,
);

#!/usr/bin/env node
// `npm run bench`: the benchmark suite (bench/run.ts). The build is refreshed first, so the
// server it starts runs what production runs (dist/), not the sources through tsx.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { register } from "tsx/esm/api";

const build = spawnSync(
  process.execPath,
  [fileURLToPath(new URL("../scripts/build.js", import.meta.url))],
  {
    stdio: "inherit",
  },
);
if (build.status !== 0) process.exit(build.status ?? 1);
register();
await import("../bench/run.ts");

#!/usr/bin/env node
// `npm run bench`: the benchmark suite (bench/run.ts), loaded through tsx like the CLI.
import { register } from "tsx/esm/api";

register();
await import("../bench/run.ts");

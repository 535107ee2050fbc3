#!/usr/bin/env node
// The CLI entry point. The sources are TypeScript, loaded through tsx's ESM hook so that
// `npx strongroom` and `npm start` work on a fresh clone with no build step.
import { register } from "tsx/esm/api";

register();
await import("../src/cli/main.ts");

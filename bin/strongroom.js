#!/usr/bin/env node
// The CLI entry point. `npm install` builds dist/ (see scripts/build.js); while that build is
// current it runs from there, otherwise from the TypeScript sources through tsx's loader,
// which starts slower and takes more memory but is always current (bin/launch.js decides).
import { fileURLToPath } from "node:url";
import { chooseEntry } from "./launch.js";

if (chooseEntry(fileURLToPath(new URL("..", import.meta.url))) === "dist") {
  await import("../dist/cli/main.js");
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}

/**
 * `npm run bench [-- --tiny] [-- --seconds N]`: runs the benchmark suite, prints one table,
 * and writes it as JSON under bench/results/ (gitignored). See docs/performance.md.
 */
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { FULL, runBench, TINY } from "./bench.js";
import { formatTable, writeReport } from "./report.js";

const { values } = parseArgs({
  options: {
    tiny: { type: "boolean", default: false },
    seconds: { type: "string" },
    "scale-large": { type: "string" },
  },
});
const sizes = { ...(values.tiny ? TINY : FULL) };
if (values.seconds !== undefined) sizes.seconds = Number(values.seconds);
if (values["scale-large"] !== undefined) sizes.scaleLarge = Number(values["scale-large"]);

const tty = process.stderr.isTTY === true;
let lastLogged = "";
const report = await runBench({
  sizes,
  log: (line) => process.stderr.write(`${tty ? "\r\x1b[K" : ""}${line}\n`),
  // A bar redrawn in place on a terminal; elsewhere (CI logs, a file) a line per tenth of it.
  progress: (line) => {
    if (tty) {
      process.stderr.write(`\r\x1b[K${line}`);
      return;
    }
    const filled = line.match(/#/g)?.length ?? 0;
    const tenth = `${line.split(" [")[0]} ${Math.floor(filled / 3)}`;
    if (tenth !== lastLogged) {
      lastLogged = tenth;
      process.stderr.write(`${line}\n`);
    }
  },
});
console.log(formatTable(report));
const path = writeReport(report, fileURLToPath(new URL("./results/", import.meta.url)));
console.log(`\nwritten to ${path}`);

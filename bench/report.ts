/** The benchmark report as one text table (stdout, docs/performance.md) and as JSON. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BenchReport, BenchRow } from "./bench.js";

function formatNumber(value: number, unit: string): string {
  const digits = unit === "s" || unit === "ms" ? 2 : 0;
  const text = value.toLocaleString("en-US", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
  return `${text} ${unit}`;
}

/** The columns of one row. */
function cells(row: BenchRow): string[] {
  return [
    row.scenario,
    formatNumber(row.value, row.unit),
    row.baseline === undefined
      ? ""
      : `${row.baseline.label}: ${formatNumber(row.baseline.value, row.baseline.unit)}`,
    row.ratio === undefined
      ? ""
      : `${row.ratio < 10 ? row.ratio.toFixed(2) : row.ratio.toFixed(0)}×`,
    row.target === undefined ? "" : `${row.target.text}: ${row.target.met ? "met" : "MISSED"}`,
  ];
}

const HEADER = ["scenario", "measured", "baseline (same run)", "ratio", "target"];

/** A Markdown table: readable in a terminal and pasteable into docs/performance.md. */
export function formatTable(report: BenchReport): string {
  const lines = [HEADER, HEADER.map(() => "---"), ...report.rows.map(cells)];
  const widths = HEADER.map((_, i) => Math.max(...lines.map((line) => (line[i] ?? "").length)));
  const table = lines.map(
    (line) => `| ${line.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join(" | ")} |`,
  );
  return [`Machine: ${report.machine}; run ${report.startedAt}`, "", ...table].join("\n");
}

/** Writes the report as `<dir>/<time>.json` and `<dir>/latest.json`; returns the first path. */
export function writeReport(report: BenchReport, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const text = `${JSON.stringify(report, null, 2)}\n`;
  const path = join(dir, `${report.startedAt.replace(/[:.]/g, "-")}.json`);
  writeFileSync(path, text);
  writeFileSync(join(dir, "latest.json"), text);
  return path;
}

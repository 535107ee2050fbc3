import type { Command } from "commander";
import { runDoctor } from "./doctor.js";
import { reportAndExit } from "./errors.js";

const LABELS = { pass: "PASS", warn: "WARN", fail: "FAIL" } as const;

/** `strongroom doctor`: every check as a line; exit 1 when any would stop production. */
export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description(
      "check the configuration (keys, debug, TLS, registration, database, Redis, headers)",
    )
    .action(async () => {
      try {
        const checks = await runDoctor(process.env, process.cwd());
        for (const check of checks)
          process.stdout.write(`${LABELS[check.status]}  ${check.name}: ${check.message}\n`);
        const failures = checks.filter((check) => check.status === "fail").length;
        const warnings = checks.filter((check) => check.status === "warn").length;
        process.stdout.write(`\n${failures} failed, ${warnings} warnings\n`);
        process.exitCode = failures > 0 ? 1 : 0;
      } catch (error) {
        reportAndExit(error, "doctor");
      }
    });
}

import type { Command } from "commander";
import { verifyAuditChain } from "../audit/index.js";
import { loadConfig } from "../config/config.js";
import { openDatabase } from "../db/database.js";
import { migrateToLatest } from "../db/migrate.js";
import { EXIT, reportAndExit } from "./errors.js";

/** `strongroom audit verify`: checks the audit hash chain; exit 1 names the first bad event. */
export function registerAuditCommands(program: Command): void {
  const audit = program.command("audit").description("inspect the tamper-evident audit log");

  audit
    .command("verify")
    .description("check every event's hash and link; exit 1 naming the first broken event")
    .action(async () => {
      let intact = false;
      try {
        const { config } = loadConfig(process.env, process.cwd());
        const database = await openDatabase(config.database);
        try {
          await migrateToLatest(database.db);
          const verdict = await verifyAuditChain(database.db);
          intact = verdict.ok;
          process.stdout.write(
            verdict.ok
              ? `audit chain intact: ${verdict.count} events\n`
              : `audit chain broken at event #${verdict.seq} (${verdict.id}): ${verdict.reason}\n`,
          );
        } finally {
          await database.close();
        }
      } catch (error) {
        reportAndExit(error, "audit verify");
      }
      process.exitCode = intact ? EXIT.ok : EXIT.failure;
    });
}

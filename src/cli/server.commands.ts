import type { Command } from "commander";
import { loadConfig } from "../config/config.js";
import { openDatabase } from "../db/database.js";
import { migrateToLatest } from "../db/migrate.js";
import { serve } from "../main.js";
import { reportAndExit } from "./errors.js";

/** `strongroom serve` and `strongroom migrate`. */
export function registerServerCommands(program: Command): void {
  program
    .command("serve")
    .description("run the web UI and API server (what `npm start` does)")
    .action(async () => {
      await serve(process.env, process.cwd()).catch((error: unknown) =>
        reportAndExit(error, "refusing to start"),
      );
    });

  program
    .command("migrate")
    .description("apply pending database migrations (the server also does this at start)")
    .action(async () => {
      try {
        const { config } = loadConfig(process.env, process.cwd());
        const database = await openDatabase(config.database);
        try {
          const { applied } = await migrateToLatest(database.db);
          process.stdout.write(
            applied.length === 0 ? "database is up to date\n" : `applied: ${applied.join(", ")}\n`,
          );
        } finally {
          await database.close();
        }
      } catch (error) {
        reportAndExit(error, "migrate");
      }
    });
}

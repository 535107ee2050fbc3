import type { Config } from "../config/config.js";
import { loadConfig } from "../config/config.js";
import type { DatabaseHandle } from "../db/database.js";
import { openDatabase } from "../db/database.js";
import { migrateToLatest } from "../db/migrate.js";

/**
 * Runs `work` with the configured database, migrated, and closes it afterwards: what every
 * server-side command does around its own work.
 */
export async function withDatabase<T>(
  work: (database: DatabaseHandle, config: Config) => Promise<T>,
): Promise<T> {
  const { config } = loadConfig(process.env, process.cwd());
  const database = await openDatabase(config.database);
  try {
    await migrateToLatest(database.db);
    return await work(database, config);
  } finally {
    await database.close();
  }
}

import { ConfigError } from "../config/config.js";
import { DatabaseUnreachableError } from "../db/database.js";
import { DatabaseUrlError } from "../db/url.js";

import { EXIT } from "./exit-codes.js";

export { EXIT };

/**
 * Prints an error as the CLI shows it: one clear line per problem, never a stack trace
 * (unless STRONGROOM_DEBUG_CLI=1, for developers of Strongroom itself), and exits 1.
 */
export function reportAndExit(error: unknown, action: string): never {
  if (error instanceof ConfigError) {
    for (const issue of error.issues)
      process.stderr.write(`strongroom: ${action}: ${issue.variable}: ${issue.message}\n`);
  } else if (error instanceof DatabaseUrlError) {
    process.stderr.write(`strongroom: ${action}: DATABASE_URL: ${error.message}\n`);
  } else if (error instanceof DatabaseUnreachableError) {
    process.stderr.write(`strongroom: ${action}: ${error.message}\n`);
  } else {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`strongroom: ${action}: ${message.split("\n")[0]}\n`);
    if (process.env.STRONGROOM_DEBUG_CLI === "1" && error instanceof Error)
      process.stderr.write(`${error.stack}\n`);
  }
  process.exit(EXIT.failure);
}

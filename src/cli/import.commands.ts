import type { Command } from "commander";
import { loadConfig } from "../config/config.js";
import type { DatabaseHandle } from "../db/database.js";
import { openDatabase } from "../db/database.js";
import { migrateToLatest } from "../db/migrate.js";
import type { FernetKey } from "../import/fernet-import.js";
import {
  decryptFernetExport,
  FERNET_IMPORT_MAX_FILE_BYTES,
  parseFernetExport,
  parseKeyText,
  readFernetKeyFile,
} from "../import/fernet-import.js";
import type { ImportProblem } from "../import/import-file.js";
import { ImportFileError, readImportFile } from "../import/import-file.js";
import { importSecrets, previewSecretImport } from "../vaults/secrets.service.js";
import { VAULT_SLUG_PATTERN } from "../vaults/vaults.schema.js";
import { findVaultForOperator } from "../vaults/vaults.service.js";
import { EXIT, reportAndExit } from "./errors.js";
import { createProgressReporter } from "./keys.commands.js";

const CLI_OPERATOR = { name: "cli", address: null };

async function withDatabase<T>(
  work: (database: DatabaseHandle, config: ReturnType<typeof loadConfig>["config"]) => Promise<T>,
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

/** Prints one line on stderr, `strongroom: ACTION: message`. */
function say(action: string, message: string): void {
  process.stderr.write(`strongroom: ${action}: ${message}\n`);
}

function fail(action: string, message: string, code: number = EXIT.failure): never {
  say(action, message);
  process.exit(code);
}

function reportProblems(action: string, problems: readonly ImportProblem[]): void {
  for (const problem of problems) say(action, `${problem.where}: ${problem.message}`);
}

const FERNET_EXAMPLES = `
The key comes from --key-file PATH (mode 0600), the FERNET_KEY environment variable, or
--key K (visible to other local users while it runs). An option wins over FERNET_KEY.

Examples:
  $ strongroom import fernet --vault flask-app --key-file ./fernet.key secrets.json
  $ FERNET_KEY="$(cat fernet.key)" strongroom import fernet --vault flask-app --dry-run secrets.json
  $ strongroom import fernet --vault flask-app --key-file ./fernet.key --partial secrets.json
`;

interface FernetOptions {
  vault: string;
  key?: string;
  keyFile?: string;
  partial?: boolean;
  dryRun?: boolean;
}

/** `strongroom import fernet` and `strongroom import users`. */
export function registerImportCommands(program: Command): void {
  const imports = program
    .command("import")
    .description("import secrets and users from another application");

  imports
    .command("fernet")
    .description("import {NAME: fernet_token} JSON written by a Python app into a vault")
    .argument("<file>", 'JSON object {"NAME": "<fernet token>", …}')
    .requiredOption("--vault <slug>", "the vault to import into (it must exist)")
    .option("--key <key>", "the Fernet key (other local users can see it: prefer --key-file)")
    .option("--key-file <path>", "read the Fernet key from this file (group/others: no access)")
    .option("--partial", "import the good entries even when some are bad (still exits 1)")
    .option("--dry-run", "check and decrypt everything, then write nothing")
    .addHelpText("after", FERNET_EXAMPLES)
    .action(async (file: string, options: FernetOptions) => {
      await runFernetImport(file, options);
    });
}

async function resolveFernetKey(action: string, options: FernetOptions): Promise<FernetKey> {
  if (options.key !== undefined && options.keyFile !== undefined)
    fail(action, "give the key with --key or --key-file, not both", EXIT.usage);
  if (options.keyFile !== undefined) return readFernetKeyFile(options.keyFile);
  if (options.key !== undefined) {
    say(
      action,
      "warning: a key on the command line is visible to other local users; prefer --key-file or FERNET_KEY",
    );
    return parseKeyText(options.key, "--key");
  }
  const fromEnvironment = process.env.FERNET_KEY;
  if (fromEnvironment === undefined || fromEnvironment === "")
    fail(action, "no key: give --key-file PATH, set FERNET_KEY, or give --key", EXIT.usage);
  return parseKeyText(fromEnvironment, "FERNET_KEY");
}

async function runFernetImport(file: string, options: FernetOptions): Promise<void> {
  const action = "import fernet";
  if (!VAULT_SLUG_PATTERN.test(options.vault))
    fail(action, "--vault must be a vault slug (2–63 of a-z, 0-9 and -)", EXIT.usage);
  const progress = createProgressReporter(process.stderr, undefined, "imported");
  try {
    const key = await resolveFernetKey(action, options);
    const text = await readImportFile(file, FERNET_IMPORT_MAX_FILE_BYTES);
    let entries: ReturnType<typeof parseFernetExport>;
    try {
      entries = parseFernetExport(text);
    } catch (error) {
      if (error instanceof ImportFileError) fail(action, `${file} ${error.message}`);
      throw error;
    }
    const { secrets, problems } = decryptFernetExport(key, entries);
    reportProblems(action, problems);
    if (problems.length > 0 && (options.partial !== true || secrets.length === 0)) {
      const hint = secrets.length > 0 ? ` (--partial imports the other ${secrets.length})` : "";
      fail(
        action,
        `nothing imported: ${problems.length} of ${entries.length} entries are bad${hint}`,
      );
    }

    const outcome = await withDatabase(async (database, config) => {
      const vault = await findVaultForOperator(database.db, options.vault);
      if (vault === null) return null;
      const names = secrets.map((secret) => secret.name);
      if (options.dryRun === true) return previewSecretImport(database.db, vault, names);
      const counts = await importSecrets(
        database.db,
        config.masterKeys,
        CLI_OPERATOR,
        vault,
        secrets,
        { now: new Date(), source: "fernet", onProgress: progress.update },
      );
      progress.finish();
      return counts;
    });
    if (outcome === null)
      fail(action, `there is no vault "${options.vault}" (create it first); nothing imported`);

    const total = outcome.created + outcome.updated;
    process.stdout.write(
      options.dryRun === true
        ? `dry run: would import ${total} secrets into ${options.vault}: ${outcome.created} new, ${outcome.updated} updated; nothing was written\n`
        : `imported ${total} secrets into ${options.vault}: ${outcome.created} new, ${outcome.updated} updated\n`,
    );
    if (problems.length > 0) {
      say(action, `${problems.length} bad entries were not imported`);
      process.exitCode = EXIT.failure;
    }
  } catch (error) {
    progress.abandon();
    if (error instanceof ImportFileError) fail(action, error.message);
    reportAndExit(error, action);
  }
}

import type { Command } from "commander";
import { findTakenAccounts, importAccounts } from "../accounts/registration.service.js";
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
import type { ImportedUser } from "../import/users-import.js";
import {
  findTakenUsers,
  readUserRows,
  USERS_IMPORT_MAX_FILE_BYTES,
  usersFileFormat,
  validateUserRows,
} from "../import/users-import.js";
import { importSecrets, previewSecretImport } from "../vaults/secrets.service.js";
import { VAULT_SLUG_PATTERN } from "../vaults/vaults.schema.js";
import { findVaultForOperator } from "../vaults/vaults.service.js";
import { withDatabase } from "./database.js";
import { EXIT, reportAndExit } from "./errors.js";
import { createProgressReporter } from "./keys.commands.js";

const CLI_OPERATOR = { name: "cli", address: null };
const CLI_ACTOR = { id: null, name: "cli", address: null };

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

const USERS_EXAMPLES = `
Fields (CSV header row, or JSON keys): username, email, password_hash, role. The role is
admin, auditor or member (empty or left out: member). Hashes: bcrypt ($2a$/$2b$/$2y$),
Werkzeug pbkdf2:… and scrypt:…, or Argon2 PHC strings. Each user signs in with their old
password, and the hash is replaced with Argon2id at that first sign-in.

Examples:
  $ strongroom import users --dry-run users.csv
  $ strongroom import users users.csv
  $ strongroom import users --format json export.txt
`;

interface UsersOptions {
  format?: string;
  dryRun?: boolean;
}

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

  imports
    .command("users")
    .description("create users from another app's accounts; they keep their old passwords")
    .argument("<file>", "CSV with a header row, or a JSON array of objects")
    .option("--format <format>", "csv or json (default: from the file's extension)")
    .option("--dry-run", "validate every row, then create nothing")
    .addHelpText("after", USERS_EXAMPLES)
    .action(async (file: string, options: UsersOptions) => {
      await runUsersImport(file, options);
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

/** The row number in `line 3` / `entry 3`, to list problems in file order. */
function rowNumber(where: string): number {
  return Number(/\d+$/.exec(where)?.[0] ?? 0);
}

/** `3 bcrypt, 2 werkzeug-pbkdf2`: which hash formats the imported users have. */
function describeHashKinds(users: readonly ImportedUser[]): string {
  const counts = new Map<string, number>();
  for (const user of users) counts.set(user.hashKind, (counts.get(user.hashKind) ?? 0) + 1);
  return [...counts].map(([kind, count]) => `${count} ${kind}`).join(", ");
}

async function runUsersImport(file: string, options: UsersOptions): Promise<void> {
  const action = "import users";
  if (options.format !== undefined && usersFileFormat("", options.format) === null)
    fail(action, "--format must be csv or json", EXIT.usage);
  const format = usersFileFormat(file, options.format);
  if (format === null)
    fail(
      action,
      `cannot tell the format of ${file}: name it .csv or .json, or give --format`,
      EXIT.usage,
    );
  const progress = createProgressReporter(process.stderr, undefined, "created");
  try {
    const text = await readImportFile(file, USERS_IMPORT_MAX_FILE_BYTES);
    let read: ReturnType<typeof readUserRows>;
    try {
      read = readUserRows(text, format);
    } catch (error) {
      if (error instanceof ImportFileError) fail(action, `${file} ${error.message}`);
      throw error;
    }
    const { users, problems } = validateUserRows(read.rows);
    const rowCount = read.rows.length + read.problems.length;

    const outcome = await withDatabase(async (database) => {
      const taken = findTakenUsers(users, await findTakenAccounts(database.db, users));
      const all = [...read.problems, ...problems, ...taken].sort(
        (a, b) => rowNumber(a.where) - rowNumber(b.where),
      );
      if (all.length > 0 || options.dryRun === true) return { problems: all, created: 0 };
      const created = await importAccounts(database.db, users, CLI_ACTOR, {
        now: new Date(),
        format,
        onProgress: progress.update,
      });
      progress.finish();
      return { problems: all, created };
    });
    if (outcome.problems.length > 0) {
      reportProblems(action, outcome.problems);
      const bad = new Set(outcome.problems.map((problem) => problem.where)).size;
      fail(action, `nothing imported: ${bad} of ${rowCount} rows are bad`);
    }
    const kinds = describeHashKinds(users);
    process.stdout.write(
      options.dryRun === true
        ? `dry run: would create ${users.length} users (${kinds}); nothing was written\n`
        : `created ${users.length} users (${kinds}); each keeps their password, rehashed with Argon2id at first sign-in\n`,
    );
  } catch (error) {
    progress.abandon();
    if (error instanceof ImportFileError) fail(action, error.message);
    reportAndExit(error, action);
  }
}

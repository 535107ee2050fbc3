import type { Command } from "commander";
import { createBackup, restoreBackup } from "../backup/backup.service.js";
import type { BackupSecret } from "../backup/backup-format.js";
import { BackupError, MIN_PASSPHRASE_LENGTH } from "../backup/backup-format.js";
import { loadConfig } from "../config/config.js";
import { openDatabase } from "../db/database.js";
import { EXIT, reportAndExit } from "./errors.js";
import { createProgressReporter } from "./keys.commands.js";
import { readPassword } from "./prompt.js";

const CLI_ACTOR = { id: null, name: "cli" };

function usage(action: string, message: string): never {
  process.stderr.write(`strongroom: ${action}: ${message}\n`);
  process.exit(EXIT.usage);
}

/** The key a backup is (to be) encrypted with: the master key, or a passphrase from stdin. */
async function backupSecret(
  action: "backup" | "restore",
  keyring: BackupSecret & { kind: "master-key" },
  passphraseStdin: boolean,
): Promise<BackupSecret> {
  if (!passphraseStdin) return keyring;
  const passphrase = await readPassword("Backup passphrase: ", true);
  if (action === "backup" && [...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    usage(action, `the passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  if (passphrase === "") usage(action, "the passphrase is empty");
  return { kind: "passphrase", passphrase };
}

/** `strongroom backup FILE` and `strongroom restore FILE`. */
export function registerBackupCommands(program: Command): void {
  program
    .command("backup")
    .description(
      "write an encrypted, consistent backup of the whole database to FILE (safe while serving)",
    )
    .argument("<file>", "where to write the backup (created 0600; never left half-written)")
    .option(
      "--passphrase-stdin",
      `encrypt with a passphrase (≥ ${MIN_PASSPHRASE_LENGTH} characters) read from standard input instead of the master key`,
    )
    .option("--force", "replace FILE if it exists")
    .action(async (file: string, options: { passphraseStdin?: boolean; force?: boolean }) => {
      const progress = createProgressReporter(process.stderr, undefined, "backed up");
      try {
        const { config } = loadConfig(process.env, process.cwd());
        const secret = await backupSecret(
          "backup",
          { kind: "master-key", keyring: config.masterKeys },
          options.passphraseStdin === true,
        );
        const database = await openDatabase(config.database);
        try {
          const result = await createBackup(database.db, file, {
            secret,
            actor: CLI_ACTOR,
            now: () => new Date(),
            overwrite: options.force === true,
            onProgress: progress.update,
          });
          progress.finish();
          const tables = Object.entries(result.counts)
            .map(([table, n]) => `${n} ${table.replaceAll("_", " ")}`)
            .join(", ");
          const key =
            result.header.key.kind === "master-key"
              ? `master key "${result.header.key.keyId}"`
              : "the passphrase";
          process.stdout.write(`backed up ${result.rows} rows to ${file} (${tables})\n`);
          process.stdout.write(
            `encrypted with ${key}: keep it, and the master key the data needs, apart from the file\n`,
          );
        } finally {
          await database.close();
        }
      } catch (error) {
        progress.abandon();
        reportAndExit(error, "backup");
      }
    });

  program
    .command("restore")
    .description(
      "check a backup, then replace the database's contents with it (stop the servers first)",
    )
    .argument("<file>", "a file written by `strongroom backup`")
    .option("--passphrase-stdin", "the backup was encrypted with a passphrase: read it from stdin")
    .option("--force", "replace the contents of a database that is not empty")
    .action(async (file: string, options: { passphraseStdin?: boolean; force?: boolean }) => {
      const checking = createProgressReporter(process.stderr, undefined, "checked");
      const restoring = createProgressReporter(process.stderr, undefined, "restored");
      let phase: "check" | "restore" = "check";
      let intact = true;
      try {
        const { config } = loadConfig(process.env, process.cwd());
        const secret = await backupSecret(
          "restore",
          { kind: "master-key", keyring: config.masterKeys },
          options.passphraseStdin === true,
        );
        const database = await openDatabase(config.database);
        try {
          const result = await restoreBackup(database.db, file, {
            secret,
            keyring: config.masterKeys,
            actor: CLI_ACTOR,
            now: () => new Date(),
            force: options.force === true,
            onProgress: (at, done, total) => {
              if (at === "restore" && phase === "check") {
                checking.finish();
                phase = "restore";
              }
              (at === "check" ? checking : restoring).update(done, total);
            },
          });
          restoring.finish();
          process.stdout.write(
            `restored ${result.rows} rows from the backup of ${result.header.createdAt}\n`,
          );
          if (result.dropped > 0) {
            process.stdout.write(
              `left out ${result.dropped} secret(s) shredded since the backup was taken\n`,
            );
          }
          process.stdout.write("sessions were not restored: everyone signs in again\n");
          if (result.replacedAudit.events > 0) {
            process.stdout.write(
              `replaced an audit log of ${result.replacedAudit.events} event(s) whose newest hash was ${result.replacedAudit.head}: the backup.restore event records both; compare with a hash kept elsewhere\n`,
            );
          }
          process.stdout.write(
            result.sharesLeftOut > 0
              ? `left out ${result.sharesLeftOut} one-time share link(s): share links are never restored\n`
              : "share links are never restored: make new ones where needed\n",
          );
          intact = result.audit.ok;
          process.stdout.write(
            result.audit.ok
              ? `audit chain intact: ${result.audit.count} events\n`
              : `audit chain broken at event #${result.audit.seq}: ${result.audit.reason}\n`,
          );
        } finally {
          await database.close();
        }
      } catch (error) {
        (phase === "check" ? checking : restoring).abandon();
        if (error instanceof BackupError) {
          process.stderr.write(`strongroom: restore: ${error.message}; nothing was changed\n`);
          process.exit(EXIT.failure);
        }
        reportAndExit(error, "restore");
      }
      process.exitCode = intact ? EXIT.ok : EXIT.failure;
    });
}

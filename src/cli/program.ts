import { Command } from "commander";
import { registerAuditCommands } from "./audit.commands.js";
import { registerBackupCommands } from "./backup.commands.js";
import { registerClientCommands } from "./client.commands.js";
import { registerDoctorCommand } from "./doctor.commands.js";
import { registerImportCommands } from "./import.commands.js";
import { registerKeysCommands } from "./keys.commands.js";
import { registerServerCommands } from "./server.commands.js";
import { registerUsersCommands } from "./users.commands.js";

/**
 * The whole `strongroom` command tree. Building it does nothing else, so a test can walk it
 * (every command has help and a row in docs/cli.md) without running anything.
 */
export function buildProgram(): Command {
  const program = new Command()
    .name("strongroom")
    .description("Strongroom: a self-hosted vault for your team's and your machines' secrets")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride((error) => {
      process.exit(error.exitCode === 0 ? 0 : 2);
    });

  registerServerCommands(program);
  registerKeysCommands(program);
  registerUsersCommands(program);
  registerDoctorCommand(program);
  registerAuditCommands(program);
  registerBackupCommands(program);
  registerImportCommands(program);
  registerClientCommands(program);
  return program;
}

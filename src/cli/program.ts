import { Command } from "commander";

type Register = (program: Command) => void;

/**
 * The top-level commands, by the module that registers them. A module is loaded only when
 * one of its commands runs (or for the full help), so `strongroom get` does not load the
 * server, the database drivers or the password hasher before it can start.
 */
const GROUPS: ReadonlyArray<{ names: readonly string[]; load: () => Promise<Register> }> = [
  {
    names: ["serve", "migrate"],
    load: async () => (await import("./server.commands.js")).registerServerCommands,
  },
  { names: ["keys"], load: async () => (await import("./keys.commands.js")).registerKeysCommands },
  {
    names: ["users"],
    load: async () => (await import("./users.commands.js")).registerUsersCommands,
  },
  {
    names: ["doctor"],
    load: async () => (await import("./doctor.commands.js")).registerDoctorCommand,
  },
  {
    names: ["audit"],
    load: async () => (await import("./audit.commands.js")).registerAuditCommands,
  },
  {
    names: ["backup", "restore"],
    load: async () => (await import("./backup.commands.js")).registerBackupCommands,
  },
  {
    names: ["import"],
    load: async () => (await import("./import.commands.js")).registerImportCommands,
  },
  {
    names: ["get", "set", "list", "export", "run"],
    load: async () => (await import("./client.commands.js")).registerClientCommands,
  },
  {
    names: ["share"],
    load: async () => (await import("./share.commands.js")).registerShareCommands,
  },
];

/**
 * The `strongroom` command tree. With `command` (the first argument on the command line)
 * naming a known command, only its group is registered; otherwise every command is, as the
 * full help and an unknown command's error need. Building it runs nothing, so a test can
 * walk it (every command has help and a row in docs/cli.md).
 */
export async function buildProgram(command?: string): Promise<Command> {
  const program = new Command()
    .name("strongroom")
    .description("Strongroom: a self-hosted vault for your team's and your machines' secrets")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride((error) => {
      process.exit(error.exitCode === 0 ? 0 : 2);
    });
  const only = GROUPS.find((group) => command !== undefined && group.names.includes(command));
  for (const group of only === undefined ? GROUPS : [only]) (await group.load())(program);
  return program;
}

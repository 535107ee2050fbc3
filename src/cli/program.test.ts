import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, describe, it } from "node:test";
import type { Command } from "commander";
import { buildProgram } from "./program.js";

/** Every command that does something (no subcommands), as its path: `keys rotate`. */
function leaves(
  command: Command,
  prefix: string[] = [],
): Array<{ path: string; command: Command }> {
  return command.commands.flatMap((child) => {
    const path = [...prefix, child.name()];
    return child.commands.length === 0
      ? [{ path: path.join(" "), command: child }]
      : leaves(child, path);
  });
}

describe("the strongroom command tree", () => {
  let commands: Array<{ path: string; command: Command }> = [];
  before(async () => {
    commands = leaves(await buildProgram());
  });
  const manual = readFileSync(new URL("../../docs/cli.md", import.meta.url), "utf8");

  it("has the commands SPEC §6 names", () => {
    const paths = commands.map((entry) => entry.path);
    for (const expected of [
      "serve",
      "migrate",
      "keys generate",
      "keys rotate",
      "users create",
      "doctor",
      "audit verify",
      "backup",
      "restore",
      "import fernet",
      "import users",
      "get",
      "set",
      "list",
      "export",
      "run",
      "share create",
      "share revoke",
    ]) {
      assert.ok(paths.includes(expected), `strongroom ${expected}`);
    }
  });

  it("gives every command a description and help that names its arguments", () => {
    for (const { path, command } of commands) {
      assert.ok(command.description().length > 10, `${path}: description`);
      const help = command.helpInformation();
      assert.match(help, /^Usage: /, path);
      for (const argument of command.registeredArguments) {
        assert.ok(help.includes(argument.name()), `${path}: help names <${argument.name()}>`);
      }
    }
  });

  it("documents every command in docs/cli.md", () => {
    const undocumented = commands
      .map((entry) => entry.path)
      .filter((path) => !manual.includes(`\`strongroom ${path}`));
    assert.deepEqual(undocumented, []);
  });
});

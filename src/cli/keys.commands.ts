import type { Command } from "commander";
import { generateMasterKeyEntry, generateSecretKeyText } from "../config/keys.js";

/** A default id for a new master key: `k` and today's date, e.g. `k20261128`. */
export function defaultMasterKeyId(now: Date): string {
  return `k${now.toISOString().slice(0, 10).replaceAll("-", "")}`;
}

/** `strongroom keys generate`. (`keys rotate` arrives with the vaults.) */
export function registerKeysCommands(program: Command): void {
  const keys = program.command("keys").description("manage encryption keys");
  keys
    .command("generate")
    .description("print a new MASTER_KEY entry (id:base64key), or with --secret a new SECRET_KEY")
    .option("--id <id>", "id of the new master key (1–32 of A-Z a-z 0-9 _ -)")
    .option("--secret", "print a SECRET_KEY value instead")
    .action((options: { id?: string; secret?: boolean }) => {
      if (options.secret === true) {
        process.stdout.write(`${generateSecretKeyText()}\n`);
        return;
      }
      const id = options.id ?? defaultMasterKeyId(new Date());
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
        process.stderr.write("strongroom: keys generate: --id must be 1–32 of A-Z a-z 0-9 _ -\n");
        process.exit(2);
      }
      process.stdout.write(`${generateMasterKeyEntry(id)}\n`);
      if (process.stderr.isTTY) {
        process.stderr.write(
          "Put it first in MASTER_KEY to make it current; keep the old entries until `keys rotate` has run.\n",
        );
      }
    });
}

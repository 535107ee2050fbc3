import type { Command } from "commander";
import { z } from "zod";
import { emailSchema, usernameSchema } from "../accounts/accounts.schema.js";
import { disableUser, resetUserMfa } from "../accounts/admin-actions.service.js";
import { createUser } from "../accounts/registration.service.js";
import { endAllSessions, endUserSessions } from "../admin/admin.service.js";
import { AppError } from "../lib/errors.js";
import { withDatabase } from "./database.js";
import { EXIT, reportAndExit } from "./errors.js";
import { readPassword } from "./prompt.js";

const CLI_ACTOR = { id: null, name: "cli", address: null };

function fail(message: string): never {
  process.stderr.write(`strongroom: users: ${message}\n`);
  process.exit(EXIT.failure);
}

/** A usage error (exit 2): arguments that do not make one request. */
function usage(message: string): never {
  process.stderr.write(`strongroom: users: ${message}\n`);
  process.exit(EXIT.usage);
}

/** "1 session", "2 sessions". */
function sessions(count: number): string {
  return count === 1 ? "1 session" : `${count} sessions`;
}

function explain(error: unknown, action: string): never {
  if (error instanceof AppError) {
    const fields = error.errors?.map((e) => `${e.path}: ${e.message}`).join("; ");
    fail(`${action}: ${fields ?? error.detail ?? error.title}`);
  }
  reportAndExit(error, `users ${action}`);
}

/**
 * `strongroom users create|reset-mfa|disable|sign-out`: account recovery from the operator's
 * shell.
 */
export function registerUsersCommands(program: Command): void {
  const users = program.command("users").description("create users and recover accounts");

  users
    .command("create")
    .description("create an active user (prompts for the password on a terminal)")
    .argument("<username>", "4–25 of A-Z a-z 0-9 _")
    .requiredOption("--email <email>", "the user's e-mail address")
    .option("--role <role>", "admin, auditor or member", "member")
    .option("--password-stdin", "read the password from standard input")
    .action(
      async (
        username: string,
        options: { email: string; role: string; passwordStdin?: boolean },
      ) => {
        const parsed = z
          .object({
            username: usernameSchema,
            email: emailSchema,
            role: z.enum(["admin", "auditor", "member"], {
              error: "must be admin, auditor or member",
            }),
          })
          .safeParse({ username, email: options.email, role: options.role });
        if (!parsed.success) {
          fail(
            `create: ${parsed.error.issues.map((issue) => `${String(issue.path[0])} ${issue.message}`).join("; ")}`,
          );
        }
        try {
          const password = await readPassword(
            `Password for ${username}: `,
            options.passwordStdin === true,
          );
          if (password === "") fail("create: the password is empty");
          const user = await withDatabase((database, config) =>
            createUser(
              database.db,
              { config, now: () => new Date() },
              { ...parsed.data, password },
              CLI_ACTOR,
            ),
          );
          process.stdout.write(`created ${user.username} (${user.role})\n`);
        } catch (error) {
          explain(error, "create");
        }
      },
    );

  users
    .command("reset-mfa")
    .description("remove a user's two-factor authentication (lost authenticator)")
    .argument("<username>")
    .action(async (username: string) => {
      try {
        await withDatabase((database) =>
          resetUserMfa(database.db, new Date(), username, CLI_ACTOR),
        );
        process.stdout.write(`two-factor authentication removed for ${username}\n`);
      } catch (error) {
        explain(error, "reset-mfa");
      }
    });

  users
    .command("disable")
    .description("disable a user and end all of their sessions")
    .argument("<username>")
    .action(async (username: string) => {
      try {
        await withDatabase((database) => disableUser(database.db, new Date(), username, CLI_ACTOR));
        process.stdout.write(`disabled ${username}; their sessions have ended\n`);
      } catch (error) {
        explain(error, "disable");
      }
    });

  users
    .command("sign-out")
    .description(
      "end every session of a user, or with --all of every user (API tokens keep working)",
    )
    .argument("[username]", "whose sessions to end; leave out with --all")
    .option("--all", "end every session of every user")
    .action(async (username: string | undefined, options: { all?: boolean }) => {
      // Exactly one target: a forgotten name must not silently sign everyone out.
      if (username !== undefined && options.all === true)
        usage("sign-out: give a username or --all, not both");
      if (username === undefined && options.all !== true)
        usage("sign-out: give a username, or --all for every user");
      try {
        if (username !== undefined) {
          const ended = await withDatabase((database) =>
            endUserSessions(database.db, new Date(), username, CLI_ACTOR),
          );
          process.stdout.write(`ended ${sessions(ended)} of ${username}\n`);
        } else {
          // The shell has no session of its own to keep.
          const ended = await withDatabase((database) =>
            endAllSessions(database.db, new Date(), CLI_ACTOR, null),
          );
          process.stdout.write(`ended ${sessions(ended)} of every user\n`);
        }
      } catch (error) {
        explain(error, "sign-out");
      }
    });
}

/**
 * Client mode: `strongroom get | set | list | expiring | export | run`, talking to a Strongroom server over
 * its HTTP API as an API token. `strongroom share` (share.commands.ts) is client mode too, with
 * the same configuration, exit codes and messages, through the helpers exported here.
 *
 * Configuration: the server from `--url` or STRONGROOM_URL; the token from `--token-file PATH`
 * or STRONGROOM_TOKEN. The token is never accepted as a command-line argument (`--token` is
 * refused), since arguments are visible to every local user through `ps`.
 *
 * Exit codes (copy to docs/cli.md):
 *
 * | code | meaning                                                                  |
 * | ---- | ------------------------------------------------------------------------ |
 * | 0    | done                                                                     |
 * | 1    | any other failure (server error, unexpected answer, bad request)         |
 * | 2    | usage or configuration error (missing URL or token, `--token`, bad args) |
 * | 3    | 401: the token is invalid, expired or revoked                            |
 * | 4    | 403: not allowed (e.g. a read token used to `set`)                       |
 * | 5    | 404: no such vault, secret or share link (or not visible to this token)  |
 * | 6    | 429: throttled; the message says when to retry                           |
 * | 7    | network failure: the server cannot be reached (or did not answer in 30s) |
 * | 8    | 412: `set --if-version N` found the secret at another version            |
 * | 9    | 410: the secret has expired (an owner can extend or delete it)           |
 *
 * `run` exits with CMD's own exit code once CMD has started (so these codes apply only to what
 * happens before it starts), 128+N when CMD was killed by signal N, 127 when CMD is not found
 * and 126 when it cannot be executed.
 *
 * Every error is one line on stderr, `strongroom: COMMAND: …`: never a stack trace, never the
 * token, never a secret value.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { constants as osConstants } from "node:os";
import type { Command } from "commander";
import { Option } from "commander";
import type { StrongroomClient } from "./client.js";
import {
  CLIENT_EXIT,
  ClientError,
  createClient,
  isLoopbackUrl,
  parseSecretPath,
  resolveClientConfig,
} from "./client.js";

/** What an environment variable name may be; other secret names are skipped by `run`/`export env`. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Secrets fetched at once by `export` and `run`. */
const FETCH_CONCURRENCY = 4;
/** Signals `run` passes on to CMD. */
const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/** The options every client command takes (see withConnectionOptions). */
export interface ConnectionOptions {
  url?: string;
  tokenFile?: string;
  token?: string;
}

/** The token in use, so that no message can ever echo it (see `fail`). */
let tokenInUse: string | null = null;

/** Registers the client commands on `program`. */
export function registerClientCommands(program: Command): void {
  withConnectionOptions(
    program
      .command("get")
      .description(
        "print a secret's value to stdout (exactly the value, nothing else; a credential or card as JSON)",
      )
      .argument("<vault/name>", "the vault's slug and the secret's name, e.g. ci/DEPLOY_KEY")
      .option(
        "--field <field>",
        "print one field of a credential or card, e.g. password, username, number",
      ),
  ).action((path: string, options: ConnectionOptions & { field?: string }) =>
    runAction("get", async () => {
      const { vault, name } = secretPathOrExit(path);
      const secret = await connect(options).getSecret(vault, name);
      const text =
        options.field === undefined
          ? valueText(secret.value)
          : fieldOf(`${vault}/${name}`, secret, options.field);
      // Exactly the value; a newline only for a person reading it on a terminal.
      const newline = process.stdout.isTTY && !text.endsWith("\n") ? "\n" : "";
      process.stdout.write(text + newline);
    }),
  );

  withConnectionOptions(
    program
      .command("set")
      .description("store a new version of a secret, reading the value from stdin (exactly)")
      .argument("<vault/name>", "the vault's slug and the secret's name, e.g. ci/DEPLOY_KEY")
      .option("--from-file <path>", "read the value from this file instead of stdin")
      .option("--note <text>", "a note stored with this version")
      .option(
        "--type <type>",
        "generic, password, api_key, note, credential or card; credential and card read a JSON object ({username, password, url?} / {holder, number, expMonth, expYear, cvc?})",
      )
      .option(
        "--if-version <n>",
        "write only if the secret is still at version N (0: only if it does not exist yet); exit 8 otherwise",
      )
      .option(
        "--expires-at <time>",
        'when the secret expires (RFC 3339, e.g. 2030-01-31T12:00:00Z), or "never"; default: unchanged',
      ),
  ).action(
    (
      path: string,
      options: ConnectionOptions & {
        fromFile?: string;
        note?: string;
        type?: string;
        ifVersion?: string;
        expiresAt?: string;
      },
    ) =>
      runAction("set", async () => {
        const { vault, name } = secretPathOrExit(path);
        const ifVersion = versionOrExit(options.ifVersion);
        const client = connect(options);
        const type = typeOrExit(options.type);
        const text = readValue(options.fromFile);
        const value =
          type === "credential" || type === "card" ? jsonObjectOrExit(text, type) : text;
        const result = await client.putSecret(vault, name, {
          value,
          type,
          note: options.note,
          ifVersion,
          expiresAt: options.expiresAt === "never" ? null : options.expiresAt,
        });
        process.stderr.write(
          `${result.created ? "created" : "updated"} ${vault}/${name} version ${result.version}\n`,
        );
      }),
  );

  withConnectionOptions(
    program
      .command("list")
      .description("print the names of a vault's secrets, one a line")
      .argument("<vault>", "the vault's slug"),
  ).action((vault: string, options: ConnectionOptions) =>
    runAction("list", async () => {
      const names = await connect(options).listSecretNames(vault);
      process.stdout.write(names.map((name) => `${name}\n`).join(""));
    }),
  );

  withConnectionOptions(
    program
      .command("expiring")
      .description(
        "list the secrets that expire within N days (expired ones included) in every vault the token may see",
      )
      .option("--days <n>", "how many days ahead to look (0 to 3650)", "30"),
  ).action((options: ConnectionOptions & { days: string }) =>
    runAction("expiring", async () => {
      if (!/^[0-9]{1,4}$/.test(options.days) || Number(options.days) > EXPIRING_DAYS_MAX)
        throw new ClientError(
          `--days must be a whole number of days from 0 to ${EXPIRING_DAYS_MAX}, not "${options.days}"`,
          CLIENT_EXIT.usage,
        );
      const days = Number(options.days);
      const client = connect(options);
      const found: Array<{ path: string; expiresAt: string }> = [];
      for (const vault of await client.listVaultSlugs())
        for (const secret of await client.listExpiring(vault, days))
          found.push({ path: `${vault}/${secret.name}`, expiresAt: secret.expiresAt });
      found.sort((a, b) => a.expiresAt.localeCompare(b.expiresAt) || a.path.localeCompare(b.path));
      const now = Date.now();
      process.stdout.write(
        found
          .map(
            ({ path, expiresAt }) => `${expiresAt}\t${path}\t${describeExpiry(expiresAt, now)}\n`,
          )
          .join(""),
      );
      if (found.length === 0) process.stderr.write(`nothing expires within ${days} days\n`);
    }),
  );

  withConnectionOptions(
    program
      .command("export")
      .description("print every secret of a vault as shell assignments (env) or a JSON object")
      .argument("<vault>", "the vault's slug")
      .addOption(
        new Option("--format <format>", "output format").choices(["env", "json"]).default("env"),
      ),
  ).action((vault: string, options: ConnectionOptions & { format: "env" | "json" }) =>
    runAction("export", async () => {
      const client = connect(options);
      if (process.stdout.isTTY)
        warn("export", "printing secret values to a terminal; redirect to a file instead");
      let names = await client.listSecretNames(vault);
      if (options.format === "env") names = dropInvalidEnvNames("export", names);
      const secrets = await fetchValues(client, vault, names);
      process.stdout.write(
        options.format === "env"
          ? formatEnv(secrets)
          : `${JSON.stringify(Object.fromEntries(secrets), null, 2)}\n`,
      );
    }),
  );

  withConnectionOptions(
    program
      .command("run")
      .description(
        "run CMD with the vault's secrets added to its environment: strongroom run --vault V -- CMD ARGS…",
      )
      .requiredOption("--vault <vault>", "the vault whose secrets to add")
      .option("--only <names...>", "add only these secrets (end the list with --)")
      .argument("<command...>", "the command and its arguments, after --"),
  ).action((command: string[], options: ConnectionOptions & { vault: string; only?: string[] }) =>
    runAction("run", async () => {
      const client = connect(options);
      const wanted = options.only ?? (await client.listSecretNames(options.vault));
      const names = dropInvalidEnvNames("run", [...new Set(wanted)]);
      const secrets = await fetchValues(client, options.vault, names);
      const env: NodeJS.ProcessEnv = { ...process.env };
      // CMD gets the secrets, not the token that fetched them.
      delete env.STRONGROOM_TOKEN;
      for (const [name, value] of secrets) env[name] = value;
      const [file, ...args] = command as [string, ...string[]];
      process.exit(await runChild(file, args, env));
    }),
  );
}

/** The API's limit for `?expiringWithinDays`. */
const EXPIRING_DAYS_MAX = 3650;

/** A value as text: a string as it is, a credential's or card's object as JSON. */
export function valueText(value: string | Record<string, unknown>): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** `get --field`: one field of a structured value; a usage error (2) naming the fields there are. */
function fieldOf(
  path: string,
  secret: { type: string; value: string | Record<string, unknown> },
  field: string,
): string {
  if (typeof secret.value === "string")
    throw new ClientError(
      `${path} is a ${secret.type} secret with one value and no fields: leave out --field`,
      CLIENT_EXIT.usage,
    );
  const found = Object.hasOwn(secret.value, field) ? secret.value[field] : undefined;
  if (typeof found !== "string" && typeof found !== "number")
    throw new ClientError(
      `${path} (${secret.type}) has no field "${field}"; it has: ${Object.keys(secret.value).join(", ")}`,
      CLIENT_EXIT.usage,
    );
  return String(found);
}

/** `expired`, or how long until: `in 3 days`, `in 5 hours`, `in 12 minutes`. */
export function describeExpiry(expiresAt: string, nowMs: number): string {
  const left = Date.parse(expiresAt) - nowMs;
  if (left <= 0) return "expired";
  const [unit, ms] =
    left >= 2 * 86_400_000
      ? ["days", 86_400_000]
      : left >= 2 * 3_600_000
        ? ["hours", 3_600_000]
        : ["minutes", 60_000];
  return `in ${Math.max(1, Math.floor(left / (ms as number)))} ${unit}`;
}

/** Adds `--url`, `--token-file` and the refused `--token` to a client command. */
export function withConnectionOptions(command: Command): Command {
  return command
    .option("--url <url>", "the server's address (default: $STRONGROOM_URL)")
    .option("--token-file <path>", "read the API token from this file (default: $STRONGROOM_TOKEN)")
    .addOption(new Option("--token <token>", "refused: see --token-file").hideHelp());
}

/** Runs a command's body, turning any failure into one line on stderr and an exit code. */
export async function runAction(action: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    fail(action, error);
  }
}

function fail(action: string, error: unknown): never {
  let message: string;
  let code: number;
  if (error instanceof ClientError) {
    message = error.message;
    code = error.exitCode;
  } else {
    message = error instanceof Error ? error.message : String(error);
    code = CLIENT_EXIT.failure;
  }
  let line = message.split("\n")[0] ?? "";
  if (tokenInUse !== null) line = line.replaceAll(tokenInUse, "[token]");
  process.stderr.write(`strongroom: ${action}: ${line}\n`);
  process.exit(code);
}

function warn(action: string, message: string): void {
  process.stderr.write(`strongroom: ${action}: warning: ${message}\n`);
}

/**
 * The client for `options` (or the environment). Throws a usage ClientError for `--token` or
 * a missing or malformed URL or token; warns when plain http crosses a network.
 */
export function connect(options: ConnectionOptions): StrongroomClient {
  if (options.token !== undefined)
    throw new ClientError(
      "--token is refused: arguments are visible to other users; set STRONGROOM_TOKEN or use --token-file PATH",
      CLIENT_EXIT.usage,
    );
  const config = resolveClientConfig(options, process.env);
  tokenInUse = config.token;
  if (config.baseUrl.startsWith("http:") && !isLoopbackUrl(config.baseUrl))
    process.stderr.write(
      "strongroom: warning: STRONGROOM_URL is plain http: the token and secrets cross the network unencrypted\n",
    );
  return createClient(config);
}

/** `--if-version`: a whole number, 0 or more; undefined when not given. */
function versionOrExit(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,10}$/.test(text) || Number(text) > 2_147_483_647)
    throw new ClientError(
      `--if-version must be a version number (0 for "does not exist yet"), not "${text}"`,
      CLIENT_EXIT.usage,
    );
  return Number(text);
}

/** `VAULT/NAME` split; a usage ClientError (exit 2) otherwise. */
export function secretPathOrExit(path: string): { vault: string; name: string } {
  const parsed = parseSecretPath(path);
  if (parsed === null)
    throw new ClientError(
      `expected VAULT/NAME, e.g. ci/DEPLOY_KEY, not "${path}"`,
      CLIENT_EXIT.usage,
    );
  return parsed;
}

/** The value for `set`, exactly as given (a trailing newline is part of it). */
const SECRET_TYPES = ["generic", "password", "api_key", "note", "credential", "card"];

/** `--type`, checked before anything is read or sent. */
function typeOrExit(type: string | undefined): string | undefined {
  if (type === undefined || SECRET_TYPES.includes(type)) return type;
  throw new ClientError(`--type must be one of ${SECRET_TYPES.join(", ")}`, CLIENT_EXIT.usage);
}

/** A credential's or card's value: a JSON object on stdin (the server checks its fields). */
function jsonObjectOrExit(text: string, type: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = null;
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new ClientError(
      `a ${type} value is a JSON object, e.g. ${
        type === "card"
          ? '{"holder":"…","number":"…","expMonth":12,"expYear":2030}'
          : '{"username":"…","password":"…"}'
      }`,
      CLIENT_EXIT.usage,
    );
  return parsed as Record<string, unknown>;
}

function readValue(fromFile: string | undefined): string {
  let bytes: Buffer;
  if (fromFile !== undefined) {
    try {
      bytes = readFileSync(fromFile);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? "unreadable";
      throw new ClientError(`cannot read --from-file: ${code}`, CLIENT_EXIT.usage);
    }
  } else {
    if (process.stdin.isTTY)
      throw new ClientError(
        'pipe the value in (e.g. `printf %s "$VALUE" | strongroom set …`) or use --from-file PATH',
        CLIENT_EXIT.usage,
      );
    bytes = readFileSync(0);
  }
  let value: string;
  try {
    value = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new ClientError("the value is not valid UTF-8", CLIENT_EXIT.usage);
  }
  if (value === "") throw new ClientError("the value is empty", CLIENT_EXIT.usage);
  return value;
}

/** Names usable as environment variables; warns once, naming the others. */
function dropInvalidEnvNames(action: string, names: string[]): string[] {
  const skipped = names.filter((name) => !ENV_NAME_PATTERN.test(name));
  if (skipped.length > 0)
    warn(action, `skipped, not valid environment variable names: ${skipped.join(", ")}`);
  return names.filter((name) => ENV_NAME_PATTERN.test(name));
}

/** Fetches the values of `names`, a few at a time, keeping their order. */
async function fetchValues(
  client: StrongroomClient,
  vault: string,
  names: string[],
): Promise<Array<[string, string]>> {
  const values: string[] = new Array(names.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < names.length) {
      const index = next++;
      values[index] = valueText((await client.getSecret(vault, names[index] as string)).value);
    }
  };
  await Promise.all(Array.from({ length: Math.min(FETCH_CONCURRENCY, names.length) }, worker));
  return names.map((name, index) => [name, values[index] as string]);
}

/** Quotes `value` for a POSIX shell: inside single quotes nothing is special but `'` itself. */
export function quoteForShell(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** `NAME='value'` lines, safe to `source` from sh, bash, dash or zsh. */
export function formatEnv(secrets: Array<[string, string]>): string {
  return secrets.map(([name, value]) => `${name}=${quoteForShell(value)}\n`).join("");
}

/**
 * Starts CMD (no shell) with `env`, passes INT/TERM/HUP on to it, and resolves with the exit
 * code to end with: CMD's own, 128+N for signal N, 127/126 when it cannot be started.
 */
function runChild(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: "inherit", env });
    const forward = (signal: NodeJS.Signals): void => {
      child.kill(signal);
    };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const stopForwarding = (): void => {
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    };
    child.on("error", (error: NodeJS.ErrnoException) => {
      stopForwarding();
      const notFound = error.code === "ENOENT";
      process.stderr.write(
        `strongroom: run: cannot start ${file}: ${notFound ? "command not found" : (error.code ?? error.message)}\n`,
      );
      resolve(notFound ? 127 : 126);
    });
    child.on("exit", (code, signal) => {
      stopForwarding();
      if (code !== null) resolve(code);
      else resolve(128 + (signal === null ? 0 : (osConstants.signals[signal] ?? 0)));
    });
  });
}

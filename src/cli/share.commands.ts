/**
 * Client mode: `strongroom share VAULT/NAME` makes a one-time share link from the shell, and
 * `strongroom share revoke ID` revokes one. Configuration, exit codes and messages are those of
 * the other client commands (client.commands.ts).
 *
 * A link is made as the web page makes it (src/web/static/share.js): the value is revealed
 * through the API (an audited reveal), encrypted on this machine under a new random key
 * (src/shares/share-crypto.ts, the same format byte for byte) and only the ciphertext is
 * posted. The key goes into the link's fragment, which is printed and never sent anywhere, so
 * the server stores a ciphertext it cannot read. stdout carries the link alone, so that
 * `LINK=$(strongroom share ci/DEPLOY_KEY)` works; everything else goes to stderr.
 */
import { createHash } from "node:crypto";
import type { Command } from "commander";
// The module itself, not the capability's index: that would load the server's routes.
import { encryptShare } from "../shares/share-crypto.js";
import { SHARE_MAX_MINUTES, SHARE_MAX_VIEWS } from "../shares/shares.schema.js";
import type { ConnectionOptions } from "./client.commands.js";
import { connect, runAction, secretPathOrExit, withConnectionOptions } from "./client.commands.js";
import { CLIENT_EXIT, ClientError } from "./client.js";
import { readPassword } from "./prompt.js";

/** A link's id: 32 base64url characters (shares.schema.ts `shareIdSchema`). */
const SHARE_ID_PATTERN = /^[A-Za-z0-9_-]{32}$/;
/** A link's handle, as listings give it: the SHA-256 of its id, hex. */
const SHARE_HANDLE_PATTERN = /^[0-9a-f]{64}$/;
/** A whole link, `…/s/{id}` with or without its `#key`, as `share revoke` also takes it. */
const SHARE_LINK_PATTERN = /^https?:\/\/[^#]*\/s\/([A-Za-z0-9_-]{32})(?:#.*)?$/;

/** Registers `share` (with `create` as its default) and `share revoke` on `program`. */
export function registerShareCommands(program: Command): void {
  const share = program
    .command("share")
    .description(
      "make a one-time share link to a secret (share VAULT/NAME), or revoke one (share revoke ID)",
    );

  withConnectionOptions(
    share
      .command("create", { isDefault: true })
      .description(
        "print a one-time link to a secret's current value, encrypted on this machine (`create` may be left out)",
      )
      .argument("<vault/name>", "the vault's slug and the secret's name, e.g. ci/DEPLOY_KEY")
      .option(
        "--views <n>",
        `how many times the link can be opened (1 to ${SHARE_MAX_VIEWS}; default: the server's, 1)`,
      )
      .option(
        "--expires-in <minutes>",
        `minutes until the link stops working (1 to ${SHARE_MAX_MINUTES}; default: the server's, 1440)`,
      )
      .option(
        "--passphrase-stdin",
        "also require a passphrase, read from stdin (a hidden prompt on a terminal)",
      ),
  ).action(
    (
      path: string,
      options: ConnectionOptions & {
        views?: string;
        expiresIn?: string;
        passphraseStdin?: boolean;
      },
    ) =>
      runAction("share", async () => {
        const { vault, name } = secretPathOrExit(path);
        const maxViews = wholeNumberOrExit("--views", options.views, SHARE_MAX_VIEWS);
        const expiresInMinutes = wholeNumberOrExit(
          "--expires-in",
          options.expiresIn,
          SHARE_MAX_MINUTES,
        );
        const client = connect(options);
        // Before the reveal: a refused passphrase should not cost an audited reveal.
        const passphrase = options.passphraseStdin === true ? await readPassphrase() : null;
        // Nor a token that may not share (a read-only one): ask first, without revealing.
        await client.assertMayShare(vault, name);
        const secret = await client.getSecret(vault, name);
        // A credential or card is shared as the web page shares it: indented JSON, which the
        // link's page shows as it is.
        const value =
          typeof secret.value === "string" ? secret.value : JSON.stringify(secret.value, null, 2);
        const { ciphertext, fragment } = await encryptShare(name, value, passphrase);
        const created = await client.createShare(vault, name, {
          ciphertext,
          maxViews,
          expiresInMinutes,
        });
        const link = new URL(created.url);
        link.hash = fragment;
        process.stdout.write(`${link.href}\n`);
        process.stderr.write(
          `link to ${vault}/${name} made: ${created.maxViews} view${created.maxViews === 1 ? "" : "s"}, expires ${created.expiresAt.slice(0, 16).replace("T", " ")} UTC${passphrase === null ? "" : ", passphrase needed"}; it is shown only now. Revoke it with: strongroom share revoke ${handleOf(created.id)}\n`,
        );
      }),
  );

  withConnectionOptions(
    share
      .command("revoke")
      .description("revoke a share link, so it no longer opens (its ciphertext is deleted)")
      .argument("<id>", "the link's id (as `share` printed it), or the whole link"),
  ).action((idOrLink: string, options: ConnectionOptions) =>
    runAction("share revoke", async () => {
      const id = shareIdOrExit(idOrLink);
      await connect(options).revokeShare(id);
      process.stderr.write(`revoked share link ${id}\n`);
    }),
  );
}

/** `--views`, `--expires-in`: a whole number from 1 to `max`; undefined when not given. */
function wholeNumberOrExit(
  option: string,
  text: string | undefined,
  max: number,
): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]{1,6}$/.test(text) || Number(text) < 1 || Number(text) > max)
    throw new ClientError(
      `${option} must be a whole number from 1 to ${max}, not "${text}"`,
      CLIENT_EXIT.usage,
    );
  return Number(text);
}

/**
 * `--passphrase-stdin`: all of stdin less one final newline (as `printf '%s\n' "$P"` gives
 * it), or a hidden prompt asked twice on a terminal. An empty passphrase is refused rather
 * than taken as "none".
 */
async function readPassphrase(): Promise<string> {
  let passphrase: string;
  try {
    passphrase = await readPassword("Passphrase for the link: ", false);
  } catch (error) {
    throw new ClientError(
      error instanceof Error ? error.message : "no passphrase",
      CLIENT_EXIT.usage,
    );
  }
  if (passphrase === "") throw new ClientError("the passphrase is empty", CLIENT_EXIT.usage);
  return passphrase;
}

/**
 * A link's handle (the SHA-256 of its id, hex): what stderr names it by, since the id is a
 * credential and stderr often lands in a CI log; it revokes the link, never opens it.
 */
function handleOf(linkId: string): string {
  return createHash("sha256").update(linkId, "utf8").digest("hex");
}

/**
 * A share link's id, given alone or as the whole link, or its handle (as listings give it);
 * a usage error otherwise.
 */
function shareIdOrExit(idOrLink: string): string {
  if (SHARE_ID_PATTERN.test(idOrLink) || SHARE_HANDLE_PATTERN.test(idOrLink)) return idOrLink;
  const fromLink = SHARE_LINK_PATTERN.exec(idOrLink)?.[1];
  if (fromLink !== undefined) return fromLink;
  throw new ClientError(
    "expected a share link's id (32 characters of A-Z a-z 0-9 _ -), the whole link, or its handle (64 hex digits)",
    CLIENT_EXIT.usage,
  );
}

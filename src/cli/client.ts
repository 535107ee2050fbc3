import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { EXIT } from "./exit-codes.js";

/**
 * Exit codes of the client commands (`get`, `set`, `list`, `export`, `run`, `share`), on top of the
 * CLI's own 0/1/2. Documented at the top of client.commands.ts and in docs/cli.md.
 */
export const CLIENT_EXIT = {
  ...EXIT,
  unauthorized: 3,
  forbidden: 4,
  notFound: 5,
  throttled: 6,
  unreachable: 7,
  /** 412: `set --if-version N` found the secret at another version; nothing was written. */
  preconditionFailed: 8,
  /** 410: the secret has expired; an owner can extend or delete it. */
  expired: 9,
} as const;

/** How long one request may take before the client gives up on the server. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Names per page when listing (the API's maximum). */
export const LIST_PAGE_SIZE = 200;

/**
 * An expected failure of a client command: `message` is the one line shown after
 * `strongroom: <command>: ` and `exitCode` the process's exit code. Messages never contain the
 * token or a secret value.
 */
export class ClientError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = "ClientError";
    this.exitCode = exitCode;
  }
}

/** Where the server is and what to show it. */
export interface ClientConfig {
  /** The base URL as given (credentials removed), used in messages. */
  displayUrl: string;
  /** The base URL with no trailing slash; API paths are appended to it. */
  baseUrl: string;
  token: string;
}

/**
 * Reads the client configuration: the URL from `--url` or STRONGROOM_URL, the token from
 * `--token-file` or STRONGROOM_TOKEN (never from an argument: other local users can read
 * those). Throws a usage ClientError (exit 2) naming what is missing or malformed, or a token
 * file that group or others may read or write.
 */
export function resolveClientConfig(
  options: { url?: string | undefined; tokenFile?: string | undefined },
  env: NodeJS.ProcessEnv,
): ClientConfig {
  const rawUrl = options.url ?? env.STRONGROOM_URL ?? "";
  if (rawUrl.trim() === "")
    throw new ClientError(
      "no server: set STRONGROOM_URL (or pass --url), e.g. https://vault.example.com",
      CLIENT_EXIT.usage,
    );
  let url: URL;
  try {
    url = new URL(rawUrl.trim());
  } catch {
    throw new ClientError("STRONGROOM_URL is not a URL", CLIENT_EXIT.usage);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:")
    throw new ClientError("STRONGROOM_URL must start with https:// or http://", CLIENT_EXIT.usage);
  url.username = "";
  url.password = "";
  url.search = "";
  url.hash = "";
  const baseUrl = url.toString().replace(/\/+$/, "");

  let token: string;
  if (options.tokenFile !== undefined) {
    token = readTokenFile(options.tokenFile);
    if (token === "") throw new ClientError("the --token-file is empty", CLIENT_EXIT.usage);
  } else {
    token = (env.STRONGROOM_TOKEN ?? "").trim();
    if (token === "")
      throw new ClientError(
        "no token: set STRONGROOM_TOKEN or pass --token-file PATH",
        CLIENT_EXIT.usage,
      );
  }
  // A token is sent as an HTTP header: refuse what would break or smuggle header syntax.
  if (!/^[\x21-\x7e]+$/.test(token))
    throw new ClientError("the token contains characters a token never has", CLIENT_EXIT.usage);
  return { displayUrl: baseUrl, baseUrl, token };
}

/** Permission bits for group and others: none may be set on a token file (POSIX). */
const GROUP_OTHER_BITS = 0o077;

/**
 * Reads a `--token-file`, trimmed. Like ssh with a private key, refuses a file that group or
 * others may read or write: whoever can read it holds the token, and whoever can write it can
 * swap in a token of their own. The mode is taken from the opened file (fstat), so a rename
 * between check and read cannot slip another file past it. Not checked on Windows, which has
 * no such mode bits. Throws a usage ClientError naming the fix.
 */
function readTokenFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw new ClientError(`cannot read --token-file: ${errorCode(error)}`, CLIENT_EXIT.usage);
  }
  try {
    const mode = fstatSync(fd).mode & 0o777;
    if (process.platform !== "win32" && (mode & GROUP_OTHER_BITS) !== 0)
      throw new ClientError(
        `--token-file ${path} is open to other users (mode ${mode.toString(8).padStart(4, "0")}); run: chmod 600 ${shellWord(path)}`,
        CLIENT_EXIT.usage,
      );
    return readFileSync(fd, "utf8").trim();
  } catch (error) {
    if (error instanceof ClientError) throw error;
    throw new ClientError(`cannot read --token-file: ${errorCode(error)}`, CLIENT_EXIT.usage);
  } finally {
    closeSync(fd);
  }
}

/** `path` as one word to paste into a shell: quoted only when it needs to be. */
function shellWord(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", `'\\''`)}'`;
}

function errorCode(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? "unreadable";
}

/** True for hosts on this machine, where plain HTTP does not cross a network. */
export function isLoopbackUrl(baseUrl: string): boolean {
  const host = new URL(baseUrl).hostname;
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Splits `VAULT/NAME`; null when either part is missing. */
export function parseSecretPath(path: string): { vault: string; name: string } | null {
  const slash = path.indexOf("/");
  if (slash <= 0 || slash === path.length - 1) return null;
  const vault = path.slice(0, slash);
  const name = path.slice(slash + 1);
  if (name.includes("/")) return null;
  return { vault, name };
}

/** A secret as `GET …/secrets/{name}` returns it (the fields the CLI uses). */
export interface RevealedSecret {
  name: string;
  /** `generic`, `password`, … (SPEC §3); `generic` from servers that predate types. */
  type: string;
  /** A string, or an object for `credential` and `card` secrets. */
  value: string | Record<string, unknown>;
  note: string | null;
  version: number;
}

/** The calls the client commands make, over Node's fetch. */
export interface StrongroomClient {
  getSecret(vault: string, name: string): Promise<RevealedSecret>;
  putSecret(
    vault: string,
    name: string,
    input: {
      /** A string, or for `credential` and `card` secrets the structured value. */
      value: string | Record<string, unknown>;
      /** The secret's type; undefined keeps it (or `generic` for a new secret). */
      type?: string | undefined;
      note?: string | undefined;
      /** Write only if the secret is at this version (If-Match); 0: only if it does not exist. */
      ifVersion?: number | undefined;
      /** RFC 3339 time the secret expires, null for never; undefined keeps its expiry. */
      expiresAt?: string | null | undefined;
    },
  ): Promise<{ created: boolean; version: number }>;
  listSecretNames(vault: string): Promise<string[]>;
  /** The slugs of every vault the token may see. */
  listVaultSlugs(): Promise<string[]>;
  /** A vault's secrets that expire within `days` days (expired ones included). */
  listExpiring(vault: string, days: number): Promise<Array<{ name: string; expiresAt: string }>>;
  /**
   * Stores an already encrypted share link to secret `name` (`POST …/shares`); undefined
   * limits take the server's defaults. The key is not an argument: it never leaves the client.
   */
  createShare(
    vault: string,
    name: string,
    input: {
      /** The format-1 ciphertext, base64url (src/shares/share-crypto.ts). */
      ciphertext: string;
      maxViews?: number | undefined;
      expiresInMinutes?: number | undefined;
    },
  ): Promise<CreatedShareLink>;
  /** Revokes share link `id` (`DELETE /api/v1/shares/{id}`); 404 names the link, not a secret. */
  revokeShare(id: string): Promise<void>;
  /**
   * Asks whether this token may make share links to secret `name` without revealing it: the
   * listing of its links (`GET …/shares`) needs the same right as making one. Throws the
   * listing's refusal (403, or 404 for no such vault or secret); resolves when allowed.
   */
  assertMayShare(vault: string, name: string): Promise<void>;
}

/** A new share link as `POST …/shares` answers (the fields the CLI uses). */
export interface CreatedShareLink {
  id: string;
  /** The link without its key, from the server's PUBLIC_URL: `https://…/s/{id}`. */
  url: string;
  maxViews: number;
  /** RFC 3339. */
  expiresAt: string;
}

export function createClient(config: ClientConfig): StrongroomClient {
  const secretsUrl = (vault: string, name?: string): string =>
    `${config.baseUrl}/api/v1/vaults/${encodeURIComponent(vault)}/secrets` +
    (name === undefined ? "" : `/${encodeURIComponent(name)}`);

  async function request(
    url: string,
    init: RequestInit & { headers?: Record<string, string> } = {},
  ): Promise<{ status: number; body: object }> {
    let response: Response;
    try {
      response = await fetch(url, {
        ...init,
        headers: {
          ...init.headers,
          accept: "application/json",
          authorization: `Bearer ${config.token}`,
          ...(init.body === undefined ? {} : { "content-type": "application/json" }),
        },
        // Never follow a redirect: it could carry the token to another origin.
        redirect: "manual",
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new ClientError(
        `cannot reach ${config.displayUrl}: ${describeNetworkError(error)}`,
        CLIENT_EXIT.unreachable,
      );
    }
    let body: unknown = null;
    const text = await response.text().catch(() => "");
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        body = null;
      }
    }
    if (response.ok) {
      // 204 No Content (a revocation) says all it has to say with its status.
      if (response.status === 204) return { status: 204, body: {} };
      if (body === null || typeof body !== "object")
        throw new ClientError(
          `${config.displayUrl} did not answer like a Strongroom server (is STRONGROOM_URL right?)`,
          CLIENT_EXIT.failure,
        );
      return { status: response.status, body };
    }
    throw errorForResponse(response, body, config.displayUrl);
  }

  return {
    async getSecret(vault, name) {
      const body = (await request(secretsUrl(vault, name))).body as Partial<RevealedSecret>;
      const value = body.value;
      if (typeof value !== "string" && (typeof value !== "object" || value === null))
        throw new ClientError("the server's answer has no value", CLIENT_EXIT.failure);
      return {
        name: typeof body.name === "string" ? body.name : name,
        type: typeof body.type === "string" ? body.type : "generic",
        value,
        note: typeof body.note === "string" ? body.note : null,
        version: typeof body.version === "number" ? body.version : 0,
      };
    },

    async putSecret(vault, name, input) {
      const answer = await request(secretsUrl(vault, name), {
        method: "PUT",
        headers:
          input.ifVersion === undefined
            ? {}
            : input.ifVersion === 0
              ? { "if-none-match": "*" }
              : { "if-match": `"${input.ifVersion}"` },
        body: JSON.stringify({
          value: input.value,
          ...(input.type === undefined ? {} : { type: input.type }),
          ...(input.note === undefined ? {} : { note: input.note }),
          ...(input.expiresAt === undefined ? {} : { expiresAt: input.expiresAt }),
        }),
      });
      const version = (answer.body as { version?: unknown }).version;
      return {
        created: answer.status === 201,
        version: typeof version === "number" ? version : 0,
      };
    },

    async listSecretNames(vault) {
      return (await listSecrets(vault, {})).map((secret) => secret.name);
    },

    async listVaultSlugs() {
      const { body } = (await request(`${config.baseUrl}/api/v1/vaults`)) as {
        body: { vaults?: Array<{ slug?: unknown }> };
      };
      return (body.vaults ?? []).flatMap((vault) =>
        typeof vault.slug === "string" ? [vault.slug] : [],
      );
    },

    async listExpiring(vault, days) {
      return (await listSecrets(vault, { expiringWithinDays: String(days) })).flatMap((secret) =>
        typeof secret.expiresAt === "string"
          ? [{ name: secret.name, expiresAt: secret.expiresAt }]
          : [],
      );
    },

    async createShare(vault, name, input) {
      const { body } = (await request(`${secretsUrl(vault, name)}/shares`, {
        method: "POST",
        body: JSON.stringify({
          ciphertext: input.ciphertext,
          ...(input.maxViews === undefined ? {} : { maxViews: input.maxViews }),
          ...(input.expiresInMinutes === undefined
            ? {}
            : { expiresInMinutes: input.expiresInMinutes }),
        }),
      })) as { body: { share?: Partial<CreatedShareLink> } };
      const share = body.share ?? {};
      if (
        typeof share.id !== "string" ||
        typeof share.url !== "string" ||
        !/^https?:\/\//.test(share.url)
      )
        throw new ClientError("the server's answer has no link", CLIENT_EXIT.failure);
      return {
        id: share.id,
        url: share.url,
        maxViews: typeof share.maxViews === "number" ? share.maxViews : 0,
        expiresAt: typeof share.expiresAt === "string" ? share.expiresAt : "",
      };
    },

    async assertMayShare(vault, name) {
      await request(`${secretsUrl(vault, name)}/shares`, { method: "GET" });
    },

    async revokeShare(id) {
      try {
        await request(`${config.baseUrl}/api/v1/shares/${encodeURIComponent(id)}`, {
          method: "DELETE",
        });
      } catch (error) {
        if (error instanceof ClientError && error.exitCode === CLIENT_EXIT.notFound)
          throw new ClientError(
            "no such share link: it was used up, revoked, expired or never existed",
            CLIENT_EXIT.notFound,
          );
        throw error;
      }
    },
  };

  /** Every page of a vault's secret list (names and metadata). */
  async function listSecrets(
    vault: string,
    filters: Record<string, string>,
  ): Promise<Array<{ name: string; expiresAt: unknown }>> {
    const secrets: Array<{ name: string; expiresAt: unknown }> = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100_000; page++) {
      const query = new URLSearchParams({ ...filters, limit: String(LIST_PAGE_SIZE) });
      if (cursor !== null) query.set("cursor", cursor);
      const { body } = (await request(`${secretsUrl(vault)}?${query}`)) as {
        body: {
          secrets?: Array<{ name?: unknown; expiresAt?: unknown }>;
          nextCursor?: unknown;
        };
      };
      for (const secret of body.secrets ?? [])
        if (typeof secret.name === "string")
          secrets.push({ name: secret.name, expiresAt: secret.expiresAt });
      cursor = typeof body.nextCursor === "string" ? body.nextCursor : null;
      if (cursor === null) return secrets;
    }
    throw new ClientError("the server kept returning more pages", CLIENT_EXIT.failure);
  }
}

/** Maps an error response (problem+json or not) to the one line and exit code the CLI shows. */
export function errorForResponse(
  response: Response,
  body: unknown,
  displayUrl: string,
): ClientError {
  const problem = (body ?? {}) as { title?: unknown; detail?: unknown; errors?: unknown };
  // A validation failure names the field, which says more than "fields are invalid".
  const [field] = Array.isArray(problem.errors) ? problem.errors : [];
  const fieldSaid =
    typeof field?.path === "string" && typeof field?.message === "string"
      ? `${field.path.replace(/^body\./, "")} ${field.message}`
      : undefined;
  const said = [fieldSaid, problem.detail, problem.title].find(
    (part): part is string => typeof part === "string" && part.trim() !== "",
  );
  switch (response.status) {
    case 401:
      return new ClientError("the token is invalid, expired or revoked", CLIENT_EXIT.unauthorized);
    case 403:
      return new ClientError(
        "not allowed: the token or its owner lacks the right for this",
        CLIENT_EXIT.forbidden,
      );
    case 404:
      return new ClientError("no such vault or secret", CLIENT_EXIT.notFound);
    case 412: {
      const etag = /^"(\d+)"$/.exec(response.headers.get("etag") ?? "")?.[1];
      return new ClientError(
        etag === undefined
          ? "not written: the secret does not exist (--if-version expected it to)"
          : `not written: the secret is at version ${etag} now, not the one --if-version names`,
        CLIENT_EXIT.preconditionFailed,
      );
    }
    case 410:
      return new ClientError(
        said === undefined ? "the secret has expired" : oneLine(said),
        CLIENT_EXIT.expired,
      );
    case 429: {
      const seconds = Number(response.headers.get("retry-after"));
      const after = Number.isFinite(seconds) && seconds > 0 ? Math.ceil(seconds) : 1;
      return new ClientError(`throttled; retry after ${after} s`, CLIENT_EXIT.throttled);
    }
  }
  if (response.status >= 300 && response.status < 400) {
    return new ClientError(
      `${displayUrl} redirects (${response.status}); set STRONGROOM_URL to the final address`,
      CLIENT_EXIT.failure,
    );
  }
  const detail = said === undefined ? "" : `: ${oneLine(said)}`;
  return new ClientError(`the server answered ${response.status}${detail}`, CLIENT_EXIT.failure);
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** The useful part of a fetch failure: undici hides the system error in `cause`. */
function describeNetworkError(error: unknown): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError"))
    return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause =
    error instanceof Error ? (error.cause as NodeJS.ErrnoException | undefined) : undefined;
  if (cause?.code !== undefined) return cause.code;
  if (cause instanceof Error) return oneLine(cause.message);
  return error instanceof Error ? oneLine(error.message) : "network failure";
}

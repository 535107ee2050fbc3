import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { formatEnv, quoteForShell } from "../src/cli/client.commands.js";
import { CLIENT_EXIT, createClient } from "../src/cli/client.js";
import { decryptShare, parseShareFragment } from "../src/shares/share-crypto.js";
import { createApiToken } from "../src/tokens/tokens.service.js";
import { createVault } from "../src/vaults/vaults.service.js";
import type { TestServer } from "./helpers/browser.js";
import { createServerUser, startTestServer } from "./helpers/browser.js";
import { runCli, startCli } from "./helpers/process.js";

const TRICKY = "it's $HOME and `id` and $(id)\nsecond line\\n \"quoted\"\n\ttab 'again'''\n";
const UNICODE = "päss—wörd 🔐\nline two\n";
/** What `share` prints: the link from the server's PUBLIC_URL, its id, and its key after "#". */
const SHARE_LINK =
  /^(http:\/\/127\.0\.0\.1:0\/s\/([A-Za-z0-9_-]{32}))#([A-Za-z0-9_-]{43}(?:\.p)?)\n$/;
/** The API's largest page of secret names (`limit` max). */
const API_PAGE_LIMIT = 200;

let server: TestServer;
let writeToken: string;
let readToken: string;
/** Writes to the vault `paged` only, which holds more secrets than one page. */
let pagedToken: string;
let cwd: string;
const stderrs: string[] = [];

async function cli(
  args: string[],
  options: { token?: string; url?: string; stdin?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const result = await runCli(
    args,
    {
      STRONGROOM_URL: options.url ?? server.url,
      STRONGROOM_TOKEN: options.token ?? writeToken,
      ...options.env,
    },
    cwd,
    options.stdin,
  );
  stderrs.push(result.stderr);
  return result;
}

async function apiPut(
  vault: string,
  name: string,
  value: string,
  token: string = writeToken,
): Promise<void> {
  const response = await fetch(
    `${server.url}/api/v1/vaults/${vault}/secrets/${encodeURIComponent(name)}`,
    {
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ value }),
    },
  );
  assert.equal(response.status, 201, await response.text());
}

/**
 * An HTTP forwarder in front of the test server that keeps every request it passes on, whole
 * (method, path, headers, body): what the server was sent, to show a link's key never was.
 */
async function startRecordingProxy(): Promise<{
  url: string;
  requests: string[];
  close(): Promise<void>;
}> {
  const requests: string[] = [];
  const proxy = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks);
      requests.push(
        `${request.method} ${request.url}\n${JSON.stringify(request.headers)}\n${body.toString()}`,
      );
      const headers: Record<string, string> = {};
      for (const name of ["authorization", "content-type", "accept", "if-match", "if-none-match"]) {
        const value = request.headers[name];
        if (typeof value === "string") headers[name] = value;
      }
      void fetch(`${server.url}${request.url}`, {
        method: request.method ?? "GET",
        headers,
        body: body.length === 0 ? undefined : body,
        redirect: "manual",
      }).then(async (answer) => {
        response.writeHead(answer.status, {
          "content-type": answer.headers.get("content-type") ?? "text/plain",
        });
        response.end(Buffer.from(await answer.arrayBuffer()));
      });
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((resolve) => proxy.close(() => resolve())),
  };
}

/** Takes one view of a share link through the public API, as the link's page does. */
async function openShare(
  id: string,
): Promise<{ status: number; ciphertext?: string; viewsLeft?: number; expiresAt?: string }> {
  const response = await fetch(`${server.url}/api/v1/shares/${id}`);
  const body = (await response.json()) as { ciphertext?: string; viewsLeft?: number };
  return { status: response.status, ...body };
}

/** A link's id and key from `share`'s stdout, which must be that link and nothing else. */
function parseLink(stdout: string): { url: string; id: string; fragment: string } {
  const match = SHARE_LINK.exec(stdout);
  assert.ok(match !== null, `one link on stdout: ${JSON.stringify(stdout)}`);
  return { url: match[1] ?? "", id: match[2] ?? "", fragment: match[3] ?? "" };
}

async function decryptLink(
  ciphertext: string | undefined,
  fragment: string,
  passphrase: string | null = null,
): Promise<{ name: string; value: string }> {
  const key = parseShareFragment(fragment);
  assert.ok(key !== null && typeof ciphertext === "string");
  return decryptShare(Buffer.from(ciphertext, "base64url"), key.linkKey, passphrase);
}

async function countShares(): Promise<number> {
  const rows = await server.server.database.db.selectFrom("shares").select("id").execute();
  return rows.length;
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `one line: ${stderr}`);
  assert.match(lines[0] ?? "", /^strongroom: /);
  assert.match(stderr, pattern);
  assert.ok(!/\n\s+at /.test(stderr), `no stack trace: ${stderr}`);
}

before(async () => {
  cwd = mkdtempSync(join(tmpdir(), "strongroom-cli-client-"));
  server = await startTestServer();
  const user = await createServerUser(server, { username: "cli_owner" });
  const db = server.server.database.db;
  const actor = {
    kind: "session" as const,
    userId: user.id,
    username: user.username,
    role: user.role,
    sessionId: null,
    tokenId: null,
    scopes: null,
  };
  for (const slug of ["app", "other", "paged"])
    await createVault(db, { actor, address: "127.0.0.1", now: new Date() }, { slug });
  const mint = async (permission: "read" | "write", vault = "app"): Promise<string> =>
    (
      await createApiToken(db, {
        userId: user.id,
        username: user.username,
        name: `cli-${vault}-${permission}`,
        scopes: [{ vault, permission }],
        expiresInDays: 1,
        now: new Date(),
        address: "127.0.0.1",
      })
    ).token;
  writeToken = await mint("write");
  readToken = await mint("read");
  pagedToken = await mint("write", "paged");
  await apiPut("app", "DB_PASSWORD", "hunter2");
  await apiPut("app", "TRICKY", TRICKY);
  await apiPut("app", "dotted.name", "not-an-env-name");
});

after(async () => {
  await server.stop();
});

describe("strongroom client commands against a real server", () => {
  it("get prints exactly the value and nothing else", async () => {
    const result = await cli(["get", "app/DB_PASSWORD"], { token: readToken });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "hunter2");
    assert.equal(result.stderr, "");
    const tricky = await cli(["get", "app/TRICKY"]);
    assert.equal(tricky.stdout, TRICKY);
  });

  it("set from stdin (and --from-file) round-trips through get, reporting the version", async () => {
    const created = await cli(["set", "app/UNICODE", "--note", "made by test"], {
      stdin: UNICODE,
    });
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stdout, "");
    assert.equal(created.stderr, "created app/UNICODE version 1\n");
    assert.equal((await cli(["get", "app/UNICODE"])).stdout, UNICODE);

    const file = join(cwd, "value.txt");
    writeFileSync(file, "from a file\n");
    const updated = await cli(["set", "app/UNICODE", "--from-file", file]);
    assert.equal(updated.stderr, "updated app/UNICODE version 2\n");
    assert.equal((await cli(["get", "app/UNICODE"])).stdout, "from a file\n");

    const empty = await cli(["set", "app/EMPTY"], { stdin: "" });
    assert.equal(empty.code, CLIENT_EXIT.usage);
    assertOneLine(empty.stderr, /empty/);
  });

  it("set --if-version writes only over the version named (0: only a new secret), else exit 8", async () => {
    const first = await cli(["set", "app/LOCKED", "--if-version", "0"], { stdin: "v1" });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stderr, "created app/LOCKED version 1\n");
    const again = await cli(["set", "app/LOCKED", "--if-version", "0"], { stdin: "clobber" });
    assert.equal(again.code, CLIENT_EXIT.preconditionFailed);
    assertOneLine(again.stderr, /not written: the secret is at version 1 now/);

    const second = await cli(["set", "app/LOCKED", "--if-version", "1"], { stdin: "v2" });
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stderr, "updated app/LOCKED version 2\n");
    const stale = await cli(["set", "app/LOCKED", "--if-version", "1"], { stdin: "stale" });
    assert.equal(stale.code, CLIENT_EXIT.preconditionFailed);
    assertOneLine(
      stale.stderr,
      /not written: the secret is at version 2 now, not the one --if-version names/,
    );
    assert.equal((await cli(["get", "app/LOCKED"])).stdout, "v2");

    const missing = await cli(["set", "app/NEVER_MADE", "--if-version", "3"], { stdin: "x" });
    assert.equal(missing.code, CLIENT_EXIT.preconditionFailed);
    assertOneLine(missing.stderr, /not written: the secret does not exist/);
    assert.equal((await cli(["get", "app/NEVER_MADE"])).code, CLIENT_EXIT.notFound);

    for (const bad of ["-1", "two", "1.5", "99999999999"]) {
      const usage = await cli(["set", "app/LOCKED", `--if-version=${bad}`], { stdin: "x" });
      assert.equal(usage.code, CLIENT_EXIT.usage, bad);
      assertOneLine(usage.stderr, /--if-version must be a version number/);
    }
    assert.equal((await cli(["get", "app/LOCKED"])).stdout, "v2");
  });

  it("expiring lists what expires within N days across the token's vaults; get of an expired secret exits 9", async () => {
    const day = 86_400_000;
    const at = (ms: number): string => new Date(Date.now() + ms).toISOString();
    const inThreeDays = at(3 * day);
    const inFortyDays = at(40 * day);
    const put = async (vault: string, name: string, expiresAt: string | null, token: string) => {
      const response = await fetch(`${server.url}/api/v1/vaults/${vault}/secrets/${name}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ value: `${name}-value`, expiresAt }),
      });
      assert.ok(response.status < 300, await response.text());
    };
    await put("app", "SOON", inThreeDays, writeToken);
    await put("app", "LATER", inFortyDays, writeToken);
    await put("app", "LAPSED", at(day), writeToken);
    await put("paged", "PAGED_SOON", at(2 * day), pagedToken);
    // Expired a minute ago (the server's clock is the real one: the row is moved back).
    await server.server.database.db
      .updateTable("secrets")
      .set({ expires_at: at(-60_000) })
      .where("name", "=", "LAPSED")
      .execute();

    const week = await cli(["expiring", "--days", "7"]);
    assert.equal(week.code, 0, week.stderr);
    const lines = week.stdout.trimEnd().split("\n");
    assert.deepEqual(
      lines.map((line) => line.split("\t").slice(1)),
      [
        ["app/LAPSED", "expired"],
        ["app/SOON", lines[1]?.split("\t")[2] ?? ""],
      ],
      "only the token's vault (app), soonest first",
    );
    assert.equal(lines[1]?.split("\t")[0], inThreeDays);
    assert.match(lines[1] ?? "", /\tin [23] days$/);

    const wider = await cli(["expiring", "--days", "60"], { token: readToken });
    assert.deepEqual(
      wider.stdout
        .trimEnd()
        .split("\n")
        .map((line) => line.split("\t")[1]),
      ["app/LAPSED", "app/SOON", "app/LATER"],
    );
    const none = await cli(["expiring", "--days", "0"], { token: pagedToken });
    assert.equal(none.code, 0);
    assert.equal(none.stdout, "");
    assert.match(none.stderr, /nothing expires within 0 days/);

    for (const bad of ["-1", "x", "3651", "1.5"]) {
      const usage = await cli(["expiring", `--days=${bad}`]);
      assert.equal(usage.code, CLIENT_EXIT.usage, bad);
      assertOneLine(usage.stderr, /--days must be a whole number of days/);
    }

    const expired = await cli(["get", "app/LAPSED"]);
    assert.equal(expired.code, CLIENT_EXIT.expired);
    assert.equal(expired.stdout, "");
    assertOneLine(expired.stderr, /app\/LAPSED expired at .*A vault owner can extend or delete it/);
    // export and run fail whole rather than hand out a vault without one of its secrets.
    assert.equal((await cli(["export", "app"])).code, CLIENT_EXIT.expired);
    // Leave the vaults as the other tests expect them.
    for (const name of ["LAPSED", "PAGED_SOON"]) {
      const secret = await server.server.database.db
        .selectFrom("secrets")
        .select("id")
        .where("name", "=", name)
        .executeTakeFirstOrThrow();
      await server.server.database.db
        .deleteFrom("secret_versions")
        .where("secret_id", "=", secret.id)
        .execute();
      await server.server.database.db.deleteFrom("secrets").where("id", "=", secret.id).execute();
    }
  });

  it("set --expires-at sets or removes the expiry, and names the field when it is refused", async () => {
    const at = new Date(Date.now() + 5 * 86_400_000).toISOString();
    const set = await cli(["set", "app/DATED", "--expires-at", at], { stdin: "dated" });
    assert.equal(set.code, 0, set.stderr);
    const expiresAt = async () =>
      (
        await server.server.database.db
          .selectFrom("secrets")
          .select("expires_at")
          .where("name", "=", "DATED")
          .executeTakeFirstOrThrow()
      ).expires_at;
    assert.equal(await expiresAt(), at);
    await cli(["set", "app/DATED"], { stdin: "kept" });
    assert.equal(await expiresAt(), at, "unchanged without --expires-at");
    for (const bad of ["2001-01-01T00:00:00Z", "tomorrow"]) {
      const refused = await cli(["set", "app/DATED", "--expires-at", bad], { stdin: "x" });
      assert.equal(refused.code, CLIENT_EXIT.failure, bad);
      assertOneLine(
        refused.stderr,
        /the server answered 400: expiresAt (must be in the future|must be an RFC 3339 time)/,
      );
    }
    await cli(["set", "app/DATED", "--expires-at", "never"], { stdin: "forever" });
    assert.equal(await expiresAt(), null);
  });

  it("set --type writes typed secrets: credentials and cards from a JSON object on stdin", async () => {
    const login = { username: "ci", password: "p@ss word", url: "https://ci.example.com" };
    const made = await cli(["set", "app/CI_LOGIN", "--type", "credential"], {
      stdin: JSON.stringify(login),
    });
    assert.equal(made.code, 0, made.stderr);
    assert.equal((await cli(["get", "app/CI_LOGIN", "--field", "password"])).stdout, "p@ss word");
    const key = await cli(["set", "app/CI_KEY", "--type", "api_key"], { stdin: "k-123" });
    assert.equal(key.code, 0, key.stderr);
    assert.equal((await cli(["get", "app/CI_KEY"])).stdout, "k-123");

    // Refused before anything is sent: an unknown type, a value that is not a JSON object.
    for (const [args, stdin, pattern] of [
      [
        ["--type", "pin"],
        "1234",
        /--type must be one of generic, password, api_key, note, credential, card/,
      ],
      [["--type", "card"], "4242424242424242", /a card value is a JSON object/],
      [["--type", "credential"], '["ci"]', /a credential value is a JSON object/],
    ] as const) {
      const refused = await cli(["set", "app/CI_BAD", ...args], { stdin });
      assert.equal(refused.code, CLIENT_EXIT.usage, refused.stderr);
      assertOneLine(refused.stderr, pattern);
    }
    // The server's checks still apply: a card number failing Luhn is a 400, nothing written.
    const luhn = await cli(["set", "app/CI_BAD", "--type", "card"], {
      stdin: JSON.stringify({
        holder: "Ada",
        number: "4242424242424241",
        expMonth: 1,
        expYear: 2099,
      }),
    });
    assert.equal(luhn.code, CLIENT_EXIT.failure);
    assertOneLine(luhn.stderr, /the server answered 400: value\.number/);
    assert.notEqual((await cli(["get", "app/CI_BAD"])).code, 0, "nothing was written");
  });

  it("get --field prints one field of a credential or card; without it, the object as JSON", async () => {
    const put = async (name: string, body: unknown) => {
      const response = await fetch(`${server.url}/api/v1/vaults/app/secrets/${name}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${writeToken}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      assert.equal(response.status, 201, await response.text());
    };
    const login = { username: "deploy", password: "it's $secret", url: "https://db.example.com" };
    await put("LOGIN", { type: "credential", value: login });
    await put("CARD", {
      type: "card",
      value: { holder: "Ada", number: "4242424242424242", expMonth: 1, expYear: 2099 },
    });
    const password = await cli(["get", "app/LOGIN", "--field", "password"]);
    assert.equal(password.code, 0, password.stderr);
    assert.equal(password.stdout, "it's $secret");
    assert.equal((await cli(["get", "app/CARD", "--field", "number"])).stdout, "4242424242424242");
    assert.equal((await cli(["get", "app/CARD", "--field", "expYear"])).stdout, "2099");
    assert.deepEqual(JSON.parse((await cli(["get", "app/LOGIN"])).stdout), login);

    const missing = await cli(["get", "app/LOGIN", "--field", "pin"]);
    assert.equal(missing.code, CLIENT_EXIT.usage);
    assertOneLine(
      missing.stderr,
      /app\/LOGIN \(credential\) has no field "pin"; it has: username, password, url/,
    );
    const plain = await cli(["get", "app/DB_PASSWORD", "--field", "password"]);
    assert.equal(plain.code, CLIENT_EXIT.usage);
    assertOneLine(plain.stderr, /generic secret with one value and no fields/);
    const proto = await cli(["get", "app/LOGIN", "--field", "__proto__"]);
    assert.equal(proto.code, CLIENT_EXIT.usage);

    const exported = JSON.parse((await cli(["export", "app", "--format", "json"])).stdout);
    assert.deepEqual(JSON.parse(exported.LOGIN), login, "structured values export as JSON text");
    for (const name of ["LOGIN", "CARD"]) {
      const secret = await server.server.database.db
        .selectFrom("secrets")
        .select("id")
        .where("name", "=", name)
        .executeTakeFirstOrThrow();
      await server.server.database.db
        .deleteFrom("secret_versions")
        .where("secret_id", "=", secret.id)
        .execute();
      await server.server.database.db.deleteFrom("secrets").where("id", "=", secret.id).execute();
    }
  });

  it("list prints one name per line", async () => {
    const result = await cli(["list", "app"], { token: readToken });
    assert.equal(result.code, 0, result.stderr);
    const names = result.stdout.trimEnd().split("\n").sort();
    for (const name of ["DB_PASSWORD", "TRICKY", "dotted.name"]) assert.ok(names.includes(name));
    assert.ok(result.stdout.endsWith("\n"));
  });

  it("list and export return every secret of a vault that spans several API pages", async () => {
    // Two full pages and one more name, in upper and lower case, with dots and dashes, so the
    // names span the sort order the server pages in.
    const expected: Record<string, string> = {};
    for (let i = 0; i < 2 * API_PAGE_LIMIT + 1; i++) {
      const name = [`KEY_${i}`, `key.${i}`, `_k-${i}`][i % 3] ?? "";
      expected[name] = `value ${i}${"!".repeat(i % 5)}`;
    }
    const names = Object.keys(expected);
    for (let start = 0; start < names.length; start += 20)
      await Promise.all(
        names
          .slice(start, start + 20)
          .map((name) => apiPut("paged", name, expected[name] ?? "", pagedToken)),
      );

    // The server really stops at one page, so the client has to follow the cursor.
    const firstPage = await fetch(
      `${server.url}/api/v1/vaults/paged/secrets?limit=${API_PAGE_LIMIT}`,
      { headers: { authorization: `Bearer ${pagedToken}` } },
    );
    const page = (await firstPage.json()) as { secrets: unknown[]; nextCursor: unknown };
    assert.equal(page.secrets.length, API_PAGE_LIMIT);
    assert.equal(typeof page.nextCursor, "string");
    const tooMany = await fetch(
      `${server.url}/api/v1/vaults/paged/secrets?limit=${API_PAGE_LIMIT + 1}`,
      { headers: { authorization: `Bearer ${pagedToken}` } },
    );
    assert.equal(tooMany.status, 400, "no page larger than the limit");

    const list = await cli(["list", "paged"], { token: pagedToken });
    assert.equal(list.code, 0, list.stderr);
    const listed = list.stdout.trimEnd().split("\n");
    assert.equal(listed.length, names.length, "each name once");
    assert.deepEqual(listed.sort(), [...names].sort());

    const json = await cli(["export", "paged", "--format", "json"], { token: pagedToken });
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout), expected);
  });

  it("export env is safe to source in sh and gives the exact values; json is an object", async () => {
    const env = await cli(["export", "app", "--format", "env"], { token: readToken });
    assert.equal(env.code, 0, env.stderr);
    assert.match(env.stderr, /dotted\.name/, "names the skipped secret");
    assert.ok(!env.stdout.includes("dotted.name"));
    const file = join(cwd, "secrets.env");
    writeFileSync(file, env.stdout);
    const sourced = spawnSync(
      "sh",
      [
        "-c",
        `set -e; . "$1"; printf %s "$TRICKY"; printf '\\0'; printf %s "$DB_PASSWORD"`,
        "sh",
        file,
      ],
      { encoding: "utf8", env: { PATH: process.env.PATH } },
    );
    assert.equal(sourced.status, 0, sourced.stderr);
    assert.equal(sourced.stdout, `${TRICKY}\0hunter2`);

    const json = await cli(["export", "app", "--format", "json"], { token: readToken });
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as Record<string, string>;
    assert.equal(parsed.TRICKY, TRICKY);
    assert.equal(parsed.DB_PASSWORD, "hunter2");
    assert.equal(parsed["dotted.name"], "not-an-env-name");
  });

  it("run starts CMD with the secrets in its environment and exits with its code", async () => {
    const result = await cli(
      [
        "run",
        "--vault",
        "app",
        "--",
        process.execPath,
        "-e",
        "process.stdout.write(process.env.DB_PASSWORD + '|' + (process.env.STRONGROOM_TOKEN ?? 'none')); process.exit(3)",
      ],
      { token: readToken },
    );
    assert.equal(result.code, 3, result.stderr);
    assert.equal(
      result.stdout,
      "hunter2|none",
      "only the child's output; the token is not passed on",
    );
    assert.match(result.stderr, /skipped.*dotted\.name/);
    assert.ok(!result.stderr.includes("hunter2"));
    assert.ok(!result.stderr.includes("not-an-env-name"));

    const only = await cli(
      [
        "run",
        "--vault",
        "app",
        "--only",
        "TRICKY",
        "--",
        process.execPath,
        "-e",
        "process.stdout.write(String(process.env.TRICKY) + '|' + String(process.env.DB_PASSWORD))",
      ],
      { token: readToken },
    );
    assert.equal(only.code, 0, only.stderr);
    assert.equal(only.stdout, `${TRICKY}|undefined`);

    const killed = await cli(
      [
        "run",
        "--vault",
        "app",
        "--only",
        "DB_PASSWORD",
        "--",
        process.execPath,
        "-e",
        "process.kill(process.pid, 'SIGKILL')",
      ],
      { token: readToken },
    );
    assert.equal(killed.code, 128 + 9);

    const missing = await cli(
      ["run", "--vault", "app", "--only", "DB_PASSWORD", "--", "no-such-command-here"],
      { token: readToken },
    );
    assert.equal(missing.code, 127);
    assertOneLine(missing.stderr, /not found/);
  });

  it("run forwards SIGTERM to CMD and exits with what CMD exits with", async () => {
    const running = startCli(
      [
        "run",
        "--vault",
        "app",
        "--only",
        "DB_PASSWORD",
        "--",
        process.execPath,
        "-e",
        "process.on('SIGTERM', () => { process.stdout.write('got TERM'); process.exit(42) }); setInterval(() => {}, 1000); process.stdout.write('ready')",
      ],
      { STRONGROOM_URL: server.url, STRONGROOM_TOKEN: readToken },
      cwd,
    );
    await running.waitFor(/ready/);
    running.child.kill("SIGTERM");
    assert.equal(await running.exited, 42);
    assert.match(running.stdout(), /got TERM/);
  });

  it("share prints one link, whose key and value never reach the server, and which opens once", async () => {
    const value = "share-me: it's $HOME ✓\nsecond line\n";
    await apiPut("app", "SHARED", value);
    const proxy = await startRecordingProxy();
    try {
      const made = await cli(["share", "app/SHARED"], { url: proxy.url });
      assert.equal(made.code, 0, made.stderr);
      const link = parseLink(made.stdout);
      assert.ok(!link.fragment.endsWith(".p"));
      assert.equal(made.stderr.split("\n").length, 2, `one line on stderr: ${made.stderr}`);
      assert.match(made.stderr, /^link to app\/SHARED made: 1 view, expires /);
      // Named by its handle: the id (a credential) and the key only on stdout.
      const handle = createHash("sha256").update(link.id).digest("hex");
      assert.match(made.stderr, new RegExp(`strongroom share revoke ${handle}\n$`));
      assert.ok(!made.stderr.includes(link.id), "the id only on stdout");
      assert.ok(!made.stderr.includes(link.fragment), "the key only on stdout");

      // The server was asked whether the token may share, then sent a reveal and a
      // ciphertext: never the key, never the value.
      assert.deepEqual(
        proxy.requests.map((request) => request.split("\n")[0]),
        [
          "GET /api/v1/vaults/app/secrets/SHARED/shares",
          "GET /api/v1/vaults/app/secrets/SHARED",
          "POST /api/v1/vaults/app/secrets/SHARED/shares",
        ],
      );
      const sent = proxy.requests.join("\n");
      assert.ok(!sent.includes(link.fragment), "the key was sent");
      assert.ok(!sent.includes("share-me"), "the value was sent");
      assert.match(proxy.requests[2] ?? "", /"ciphertext":"[A-Za-z0-9_-]+"/);
      assert.ok(!(proxy.requests[2] ?? "").includes("maxViews"), "the server's defaults apply");
      // Nor is either anywhere in the database (the share's row, the audit log).
      const db = server.server.database.db;
      const stored = JSON.stringify([
        await db.selectFrom("shares").selectAll().execute(),
        await db.selectFrom("audit_events").selectAll().execute(),
      ]);
      assert.ok(!stored.includes(link.fragment));
      assert.ok(!stored.includes("share-me"));

      const first = await openShare(link.id);
      assert.equal(first.status, 200);
      assert.equal(first.viewsLeft, 0);
      assert.deepEqual(await decryptLink(first.ciphertext, link.fragment), {
        name: "SHARED",
        value,
      });
      assert.equal((await openShare(link.id)).status, 404, "one view, then gone");
    } finally {
      await proxy.close();
    }
  });

  it("share --views, --expires-in and --passphrase-stdin set the link's limits and passphrase", async () => {
    const made = await cli(
      ["share", "app/DB_PASSWORD", "--views", "2", "--expires-in", "60", "--passphrase-stdin"],
      { stdin: "correct horse\n" },
    );
    assert.equal(made.code, 0, made.stderr);
    const link = parseLink(made.stdout);
    assert.ok(link.fragment.endsWith(".p"), "the link says a passphrase is needed");
    assert.match(made.stderr, /2 views, expires .* UTC, passphrase needed/);

    const first = await openShare(link.id);
    assert.equal(first.viewsLeft, 1);
    const expiresInMs = Date.parse(first.expiresAt ?? "") - Date.now();
    assert.ok(expiresInMs > 55 * 60_000 && expiresInMs <= 60 * 60_000, String(expiresInMs));
    // The newline that ends the passphrase's line is not part of it.
    assert.deepEqual(await decryptLink(first.ciphertext, link.fragment, "correct horse"), {
      name: "DB_PASSWORD",
      value: "hunter2",
    });
    await assert.rejects(decryptLink(first.ciphertext, link.fragment, "correct horse\n"));
    await assert.rejects(decryptLink(first.ciphertext, link.fragment, null));
    assert.equal((await openShare(link.id)).viewsLeft, 0);
    assert.equal((await openShare(link.id)).status, 404);

    // `share create` is the same command, spelt out.
    const spelt = await cli(["share", "create", "app/DB_PASSWORD"]);
    assert.equal(spelt.code, 0, spelt.stderr);
    parseLink(spelt.stdout);
  });

  it("share gives a credential as the web page does: indented JSON", async () => {
    const login = { username: "deploy", password: "p@ss", url: "https://db.example.com" };
    const response = await fetch(`${server.url}/api/v1/vaults/app/secrets/SHARED_LOGIN`, {
      method: "PUT",
      headers: { authorization: `Bearer ${writeToken}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "credential", value: login }),
    });
    assert.equal(response.status, 201, await response.text());
    const made = await cli(["share", "app/SHARED_LOGIN"]);
    assert.equal(made.code, 0, made.stderr);
    const link = parseLink(made.stdout);
    const opened = await decryptLink((await openShare(link.id)).ciphertext, link.fragment);
    assert.equal(opened.value, JSON.stringify(login, null, 2));
  });

  it("share refuses bad arguments before any request, and a read token or unknown secret without making a link", async () => {
    const proxy = await startRecordingProxy();
    try {
      const before = await countShares();
      for (const [args, pattern] of [
        [["--views", "0"], /--views must be a whole number from 1 to 100, not "0"/],
        [["--views", "101"], /--views must be a whole number from 1 to 100/],
        [["--views=-1"], /--views must be a whole number from 1 to 100/],
        [["--views", "1.5"], /--views must be a whole number/],
        [["--views", "two"], /--views must be a whole number/],
        [["--expires-in", "0"], /--expires-in must be a whole number from 1 to 10080/],
        [["--expires-in", "10081"], /--expires-in must be a whole number from 1 to 10080/],
        [["--expires-in", "1h"], /--expires-in must be a whole number/],
      ] as const) {
        const refused = await cli(["share", "app/DB_PASSWORD", ...args], { url: proxy.url });
        assert.equal(refused.code, CLIENT_EXIT.usage, args.join(" "));
        assertOneLine(refused.stderr, pattern);
        assert.equal(refused.stdout, "");
      }
      const empty = await cli(["share", "app/DB_PASSWORD", "--passphrase-stdin"], {
        url: proxy.url,
        stdin: "\n",
      });
      assert.equal(empty.code, CLIENT_EXIT.usage);
      assertOneLine(empty.stderr, /strongroom: share: the passphrase is empty/);
      const badPath = await cli(["share", "DB_PASSWORD"], { url: proxy.url });
      assert.equal(badPath.code, CLIENT_EXIT.usage);
      assert.equal(proxy.requests.length, 0, "nothing was sent");

      const readOnly = await cli(["share", "app/DB_PASSWORD"], {
        url: proxy.url,
        token: readToken,
      });
      assert.equal(readOnly.code, CLIENT_EXIT.forbidden);
      assertOneLine(readOnly.stderr, /strongroom: share: not allowed/);
      assert.equal(readOnly.stdout, "");
      // Refused before the value was read: the read token asked only whether it may share.
      assert.deepEqual(
        proxy.requests.map((request) => request.split("\n")[0]),
        ["GET /api/v1/vaults/app/secrets/DB_PASSWORD/shares"],
        "no reveal, no post",
      );

      const unknown = await cli(["share", "app/NO_SUCH"], { url: proxy.url });
      assert.equal(unknown.code, CLIENT_EXIT.notFound);
      assertOneLine(unknown.stderr, /no such vault or secret/);
      assert.equal(
        proxy.requests.filter((request) => !request.startsWith("GET ")).length,
        0,
        "nothing was posted",
      );
      assert.equal(await countShares(), before, "no link was made");
    } finally {
      await proxy.close();
    }
  });

  it("share revoke takes a link's id, the whole link or its handle; it no longer opens", async () => {
    const byId = parseLink((await cli(["share", "app/DB_PASSWORD", "--views", "5"])).stdout);
    const revoked = await cli(["share", "revoke", byId.id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal(revoked.stdout, "");
    assert.equal(revoked.stderr, `revoked share link ${byId.id}\n`);
    assert.equal((await openShare(byId.id)).status, 404);

    const again = await cli(["share", "revoke", byId.id]);
    assert.equal(again.code, CLIENT_EXIT.notFound);
    assertOneLine(again.stderr, /strongroom: share revoke: no such share link/);

    const byLink = parseLink((await cli(["share", "app/DB_PASSWORD"])).stdout);
    const whole = await cli(["share", "revoke", `${byLink.url}#${byLink.fragment}`]);
    assert.equal(whole.code, 0, whole.stderr);
    assert.equal((await openShare(byLink.id)).status, 404);

    // The handle a listing gives (the id's SHA-256) revokes too.
    const byHandle = parseLink((await cli(["share", "app/DB_PASSWORD"])).stdout);
    const handle = createHash("sha256").update(byHandle.id).digest("hex");
    const viaHandle = await cli(["share", "revoke", handle]);
    assert.equal(viaHandle.code, 0, viaHandle.stderr);
    assert.equal((await openShare(byHandle.id)).status, 404);

    const malformed = await cli(["share", "revoke", "not-an-id"]);
    assert.equal(malformed.code, CLIENT_EXIT.usage);
    assertOneLine(malformed.stderr, /expected a share link's id/);
  });

  it("maps refusals and failures to one line and their exit codes", async () => {
    const readOnly = await cli(["set", "app/NOPE"], { token: readToken, stdin: "x" });
    assert.equal(readOnly.code, CLIENT_EXIT.forbidden);
    assertOneLine(readOnly.stderr, /not allowed/);

    const wrong = await cli(["get", "app/DB_PASSWORD"], { token: `sr_${"A".repeat(43)}` });
    assert.equal(wrong.code, CLIENT_EXIT.unauthorized);
    assertOneLine(wrong.stderr, /invalid, expired or revoked/);

    const unknownVault = await cli(["list", "no-such-vault"]);
    assert.equal(unknownVault.code, CLIENT_EXIT.notFound);
    assertOneLine(unknownVault.stderr, /no such vault or secret/);

    const unknownSecret = await cli(["get", "app/NO_SUCH"]);
    assert.equal(unknownSecret.code, CLIENT_EXIT.notFound);

    const unreachable = await cli(["get", "app/DB_PASSWORD"], { url: "http://127.0.0.1:1" });
    assert.equal(unreachable.code, CLIENT_EXIT.unreachable);
    assertOneLine(unreachable.stderr, /cannot reach http:\/\/127\.0\.0\.1:1: /);
  });

  it("refuses --token and reports missing configuration with exit 2", async () => {
    const refused = await cli(["get", "app/DB_PASSWORD", "--token", writeToken]);
    assert.equal(refused.code, CLIENT_EXIT.usage);
    assertOneLine(refused.stderr, /--token is refused/);
    assert.equal(refused.stdout, "");

    const noToken = await runCli(["get", "app/DB_PASSWORD"], { STRONGROOM_URL: server.url }, cwd);
    assert.equal(noToken.code, CLIENT_EXIT.usage);
    assertOneLine(noToken.stderr, /STRONGROOM_TOKEN/);

    const noUrl = await runCli(["list", "app"], { STRONGROOM_TOKEN: writeToken }, cwd);
    assert.equal(noUrl.code, CLIENT_EXIT.usage);
    assertOneLine(noUrl.stderr, /STRONGROOM_URL/);
    stderrs.push(noToken.stderr, noUrl.stderr);

    const tokenFile = join(cwd, "token");
    writeFileSync(tokenFile, `${readToken}\n`, { mode: 0o600 });
    const fromFile = await runCli(
      ["get", "app/DB_PASSWORD", "--token-file", tokenFile],
      { STRONGROOM_URL: server.url },
      cwd,
    );
    assert.equal(fromFile.code, 0, fromFile.stderr);
    assert.equal(fromFile.stdout, "hunter2");

    const badPath = await cli(["get", "DB_PASSWORD"]);
    assert.equal(badPath.code, CLIENT_EXIT.usage);
  });

  it("refuses a --token-file that group or others can read or write, like ssh", {
    skip: process.platform === "win32" ? "no POSIX mode bits" : false,
  }, async () => {
    const tokenFile = join(cwd, "shared token");
    writeFileSync(tokenFile, `${readToken}\n`);
    const run = () =>
      runCli(
        ["get", "app/DB_PASSWORD", "--token-file", tokenFile],
        { STRONGROOM_URL: server.url },
        cwd,
      );

    for (const mode of [0o644, 0o620, 0o602]) {
      chmodSync(tokenFile, mode);
      const refused = await run();
      stderrs.push(refused.stderr);
      const octal = mode.toString(8).padStart(4, "0");
      assert.equal(refused.code, CLIENT_EXIT.usage, octal);
      assert.ok(
        refused.stderr.trimEnd().endsWith(`(mode ${octal}); run: chmod 600 '${tokenFile}'`),
        refused.stderr,
      );
      assertOneLine(refused.stderr, /open to other users/);
      assert.equal(refused.stdout, "", "no value printed");
    }

    chmodSync(tokenFile, 0o600);
    const accepted = await run();
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal(accepted.stdout, "hunter2");
  });

  it("--help works for every client command", async () => {
    for (const command of [
      ["get"],
      ["set"],
      ["list"],
      ["expiring"],
      ["export"],
      ["run"],
      ["share", "create"],
      ["share", "revoke"],
    ]) {
      const result = await runCli([...command, "--help"], {}, cwd);
      assert.equal(result.code, 0, command.join(" "));
      assert.match(result.stdout, /Usage: strongroom/);
      assert.ok(!result.stdout.includes("--token <"), "--token is not offered");
    }
  });

  it("never shows a token on stderr", () => {
    assert.ok(stderrs.length > 10);
    for (const stderr of stderrs) {
      assert.ok(!stderr.includes(writeToken), stderr);
      assert.ok(!stderr.includes(readToken), stderr);
    }
  });
});

describe("client library", () => {
  it("maps 429 with Retry-After to exit 6 and when to retry", async () => {
    // A fake server: the real one has no rate limit on token requests, so it never answers 429.
    const fake = createServer((_request, response) => {
      response.writeHead(429, {
        "content-type": "application/problem+json",
        "retry-after": "17",
      });
      response.end(JSON.stringify({ type: "x", title: "Too many requests", status: 429 }));
    });
    await new Promise<void>((resolve) => fake.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = fake.address() as AddressInfo;
      const base = `http://127.0.0.1:${port}`;
      const client = createClient({ baseUrl: base, displayUrl: base, token: "sr_x" });
      await assert.rejects(
        client.getSecret("v", "throttled"),
        (error: Error & { exitCode: number }) => {
          assert.equal(error.exitCode, CLIENT_EXIT.throttled);
          assert.equal(error.message, "throttled; retry after 17 s");
          return true;
        },
      );
    } finally {
      await new Promise((resolve) => fake.close(resolve));
    }
  });

  it("quotes values for the shell", () => {
    assert.equal(quoteForShell("a'b"), `'a'\\''b'`);
    assert.equal(formatEnv([["X", "$y"]]), "X='$y'\n");
  });
});

/**
 * SQL injection, tested with the attackers' tool: Debian's sqlmap (`--batch --level 3
 * --risk 2`, every technique, every DBMS's payloads) against a real `strongroom serve`
 * process in production mode. The targets are the sign-in body, the registration body, and
 * every path and query parameter of the vault and secret routes (plus the admin and audit
 * filters, which also reach SQL), each with a valid session or token so the requests get past
 * authentication to the code that queries.
 *
 * A target passes when sqlmap reports every parameter it was given as not injectable, and no
 * request it sent was answered with a 5xx. Afterwards the data sqlmap aimed at is unchanged,
 * the server still answers, and `strongroom audit verify` finds the chain intact.
 *
 * Nothing is timed; sqlmap's own time-based tests decide by comparing delays it measures, and
 * confirm every candidate before reporting it.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { SMTPServer } from "smtp-server";
import { type Instance, startInstance } from "../cluster/harness.js";
import { GOOD_PASSWORD } from "../helpers/accounts.js";
import { databaseUrlOf, testDatabaseTargets } from "../helpers/databases.js";
import { runCli } from "../helpers/process.js";
import { findFreePort } from "../helpers/redis-server.js";

const SQLMAP = "/usr/bin/sqlmap";
const PUBLIC_URL = "https://127.0.0.1";
/** One target's run: generous, since a hang should fail rather than stall CI. */
const TARGET_TIMEOUT_MS = 8 * 60_000;

/**
 * Why the scan cannot run here, or null. In CI (`CI=true`) it always runs, so a missing tool
 * fails the suite instead of passing it by skipping.
 */
function sqlmapSkipReason(): string | null {
  if (process.env.CI === "true") return null;
  const probe = spawnSync(SQLMAP, ["--version"], { stdio: "ignore" });
  return probe.error !== undefined || probe.status !== 0
    ? "sqlmap not installed: SQL injection scan skipped (apt-get install sqlmap)"
    : null;
}

/** What sqlmap is pointed at, and the parameters it must report on. */
interface Target {
  label: string;
  url: string;
  method?: "POST" | "PUT" | "PATCH";
  /** A JSON body; `*` marks the values to inject into when the URL has markers too. */
  data?: string;
  headers?: string[];
  cookie?: string;
  /** sqlmap's names for the parameters (`#1*` for the URL's first marker): each must be reported clean. */
  parameters: string[];
  /** Level 3 injects into User-Agent and Referer too; once (on sign-in) is enough. */
  headersToo?: boolean;
  extra?: string[];
}

interface Session {
  cookie: string;
  csrf: string;
}

/** A loopback SMTP server that accepts every message (registration mails its link). */
async function startMailSink(): Promise<{ url: string; close(): Promise<void> }> {
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onData(stream, _session, callback) {
      stream.resume();
      stream.on("end", () => callback());
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function call(
  base: string,
  method: string,
  path: string,
  auth: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...auth,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: text === "" ? {} : JSON.parse(text) };
}

async function signIn(base: string, username: string): Promise<Session> {
  const response = await fetch(`${base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password: GOOD_PASSWORD }),
  });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  const cookie = (response.headers.getSetCookie()[0] ?? "").split(";")[0] ?? "";
  return { cookie, csrf: (JSON.parse(text) as { csrfToken: string }).csrfToken };
}

const asSession = (session: Session): Record<string, string> => ({
  cookie: session.cookie,
  "x-csrf-token": session.csrf,
});

/** Everything the scan might change if an injection worked: read back before and after. */
async function snapshot(
  base: string,
  owner: Session,
  admin: Session,
): Promise<Record<string, unknown>> {
  const read = async (session: Session, path: string): Promise<unknown> => {
    const { status, json } = await call(base, "GET", path, asSession(session));
    assert.equal(status, 200, `${path}: ${JSON.stringify(json)}`);
    return json;
  };
  const secret = async (name: string): Promise<unknown> => {
    const current = (await read(owner, `/api/v1/vaults/alpha/secrets/${name}`)) as {
      value: string;
      version: number;
    };
    const versions = (await read(owner, `/api/v1/vaults/alpha/secrets/${name}/versions`)) as {
      versions: Array<{ version: number }>;
    };
    const values: string[] = [];
    for (const { version } of versions.versions) {
      const one = (await read(
        owner,
        `/api/v1/vaults/alpha/secrets/${name}/versions/${version}`,
      )) as {
        value: string;
      };
      values.push(`${version}:${one.value}`);
    }
    return { value: current.value, version: current.version, values };
  };
  const users = (await read(admin, "/api/v1/admin/users?limit=100")) as {
    users: Array<Record<string, unknown>>;
  };
  return {
    // Vault beta is the PATCH target: its description is sqlmap's to change.
    vault: await read(owner, "/api/v1/vaults/alpha"),
    vaults: (
      (await read(owner, "/api/v1/vaults")) as { vaults: Array<{ slug: string }> }
    ).vaults.map((v) => v.slug),
    members: await read(owner, "/api/v1/vaults/alpha/members"),
    key: await secret("KEY"),
    other: await secret("OTHER"),
    // Sign-in times change as the scan signs in; who exists, with which role and state, not.
    users: users.users.map(({ username, role, disabled, email }) => ({
      username,
      role,
      disabled,
      email,
    })),
  };
}

/** Runs sqlmap on one target; resolves with its output. */
function runSqlmap(target: Target, outputDir: string, home: string): Promise<string> {
  const args = [
    "-u",
    target.url,
    "--batch",
    "--level=3",
    "--risk=2",
    "--disable-coloring",
    "--flush-session",
    `--output-dir=${outputDir}`,
    // Answers that refuse the injected value (bad input, not found, not allowed, conflict) are
    // what a safe server gives: compare them like any other page instead of stopping.
    "--ignore-code=400,401,403,404,409,413,414,415,422,429",
    ...(target.headersToo === true ? [] : ["--skip=user-agent,referer"]),
    ...(target.method === undefined ? [] : [`--method=${target.method}`]),
    ...(target.data === undefined ? [] : [`--data=${target.data}`]),
    ...(target.cookie === undefined ? [] : [`--cookie=${target.cookie}`]),
    ...(target.headers ?? []).flatMap((header) => ["-H", header]),
    ...(target.extra ?? []),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(SQLMAP, args, {
      env: { PATH: process.env.PATH, HOME: home, LANG: "C.UTF-8" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`sqlmap on ${target.label} did not finish in time:\n${output.slice(-4000)}`),
      );
    }, TARGET_TIMEOUT_MS);
    child.on("error", reject);
    // "close": every byte of sqlmap's report read (see test/helpers/process.ts).
    child.on("close", () => {
      clearTimeout(timer);
      resolve(output);
    });
  });
}

/** Asserts sqlmap found nothing on `target` and got no 5xx. */
export function assertClean(target: Pick<Target, "label" | "parameters">, output: string): void {
  const tail = output.slice(-6000);
  assert.doesNotMatch(
    output,
    /identified the following injection point|is vulnerable/,
    `${target.label}: sqlmap found an injection:\n${tail}`,
  );
  for (const parameter of target.parameters) {
    // sqlmap names a parameter after where it sits: "URI parameter '#1*'" in a GET, "(custom)
    // POST parameter 'JSON username'", and for other methods "PUT parameter 'JSON #1*'".
    const name = parameter.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    assert.match(
      output,
      new RegExp(`parameter '(JSON )?${name}' does not seem to be injectable`),
      `${target.label}: sqlmap did not report ${parameter} as tested and clean:\n${tail}`,
    );
  }
  assert.match(
    output,
    /all tested parameters do not appear to be injectable/,
    `${target.label}: sqlmap did not finish its scan:\n${tail}`,
  );
  const codes = /HTTP error codes detected during run:\s*\n([^\n]*)/.exec(output)?.[1] ?? "";
  assert.doesNotMatch(codes, /\b5\d\d \(/, `${target.label}: the server answered 5xx: ${codes}`);
}

// The engines' scans run side by side: each has its own server, database and sqlmap.
describe("sqlmap finds no SQL injection", {
  skip: sqlmapSkipReason() ?? false,
  concurrency: true,
}, () => {
  for (const kind of testDatabaseTargets()) {
    it(kind.name, { timeout: 30 * 60_000 }, async (t) => {
      const database = await kind.create();
      const cwd = mkdtempSync(join(tmpdir(), "strongroom-sqlmap-"));
      const mail = await startMailSink();
      const port = await findFreePort();
      const base = `http://127.0.0.1:${port}`;
      const env: NodeJS.ProcessEnv = {
        NODE_ENV: "production",
        PUBLIC_URL,
        SECRET_KEY: randomBytes(32).toString("base64url"),
        MASTER_KEY: `k1:${randomBytes(32).toString("base64")}`,
        DATABASE_URL: databaseUrlOf(database.target),
        REGISTRATION: "open",
        SMTP_URL: mail.url,
        MAIL_FROM: "vault@example.test",
        // sqlmap's xforwardedfor tamper gives each request a new client address, which the
        // server believes only from this proxy address: the per-address limits on sign-up
        // and sign-in would otherwise answer 429 to everything after the first few requests.
        TRUST_PROXY: "127.0.0.1",
        LOGIN_MAX_FAILURES_PER_ACCOUNT: "10000",
        LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: "1000",
        // Thousands of probes with one session or token: past the per-caller budget every one
        // would be a 429 that never reaches the query sqlmap aims at.
        API_RATE_LIMIT: "1000000",
        // sqlmap runs for minutes on a busy machine: past the default 10 the session would be
        // answered 401 reauth-required on every step-up route, before the query sqlmap aims at
        // (and the final reads of the aimed-at data would fail the same way).
        REAUTH_MINUTES: "1440",
        LOG_LEVEL: "warn",
      };
      let instance: Instance | null = null;
      try {
        for (const [username, role] of [
          ["alice", "member"],
          ["bobby", "member"],
          ["warden", "admin"],
        ] as const) {
          const made = await runCli(
            [
              "users",
              "create",
              username,
              "--email",
              `${username}@example.test`,
              "--role",
              role,
              "--password-stdin",
            ],
            { ...env, LOG_LEVEL: "silent" },
            cwd,
            `${GOOD_PASSWORD}\n`,
          );
          assert.equal(made.code, 0, made.stderr);
        }
        instance = await startInstance(env, cwd, port);

        // alice owns vault alpha (secrets KEY and OTHER with versions, RESTORE and SCRATCH for
        // the routes that write) with bobby as a viewer, and a token that may write there.
        const alice = await signIn(base, "alice");
        const root = await signIn(base, "warden");
        const session = asSession(alice);
        // Vault beta is the PATCH target, whose description sqlmap may rewrite at will.
        for (const slug of ["alpha", "beta"])
          assert.equal((await call(base, "POST", "/api/v1/vaults", session, { slug })).status, 201);
        for (const [name, value] of [
          ["KEY", "key-one"],
          ["KEY", "key-two"],
          ["OTHER", "other-one"],
          ["RESTORE", "restore-one"],
          ["SCRATCH", "scratch-one"],
        ] as const) {
          const put = await call(base, "PUT", `/api/v1/vaults/alpha/secrets/${name}`, session, {
            value,
            note: `${name} note`,
          });
          assert.ok(put.status === 200 || put.status === 201, JSON.stringify(put.json));
        }
        const member = await call(base, "PUT", "/api/v1/vaults/alpha/members/bobby", session, {
          role: "viewer",
        });
        assert.equal(member.status, 201, JSON.stringify(member.json));
        const minted = await call(base, "POST", "/api/v1/me/tokens", session, {
          name: "scan",
          scopes: [{ vault: "alpha", permission: "write" }],
          expiresInDays: 1,
        });
        assert.equal(minted.status, 201, JSON.stringify(minted.json));
        const bearer = `Authorization: Bearer ${minted.json.token as string}`;
        const page = await call(base, "GET", "/api/v1/vaults/alpha/secrets?limit=1", session);
        const cursor = encodeURIComponent(String(page.json.nextCursor));
        assert.notEqual(cursor, "undefined", JSON.stringify(page.json));
        const before = await snapshot(base, alice, root);

        const cookie = (s: Session): { cookie: string; headers: string[] } => ({
          cookie: s.cookie,
          headers: [`X-CSRF-Token: ${s.csrf}`],
        });
        /** The URL's `*` markers, as sqlmap numbers them. */
        const uri = (count: number): string[] =>
          Array.from({ length: count }, (_, i) => `#${i + 1}*`);
        const api = `${base}/api/v1`;
        const targets: Target[] = [
          {
            label: "sign-in body",
            url: `${api}/auth/login`,
            method: "POST",
            data: JSON.stringify({ username: "alice", password: GOOD_PASSWORD, totp: "123456" }),
            parameters: [
              "username",
              "password",
              "totp",
              ...(kind.name === "sqlite" ? ["User-Agent", "Referer"] : []),
            ],
            // The headers reach no query on either engine: scanning them once saves minutes.
            headersToo: kind.name === "sqlite",
            extra: ["--tamper=xforwardedfor"],
          },
          {
            label: "registration body",
            url: `${api}/auth/register`,
            method: "POST",
            data: JSON.stringify({
              username: "carol",
              email: "carol@example.test",
              password: GOOD_PASSWORD,
            }),
            parameters: ["username", "email", "password"],
            extra: ["--tamper=xforwardedfor"],
          },
          {
            label: "GET /vaults/{vault} (token)",
            url: `${api}/vaults/alpha*`,
            headers: [bearer],
            parameters: uri(1),
          },
          {
            label: "PATCH /vaults/{vault} (session)",
            url: `${api}/vaults/beta*`,
            method: "PATCH",
            data: JSON.stringify({ description: "scanned" }),
            ...cookie(alice),
            parameters: uri(1),
          },
          {
            label: "GET /vaults/{vault}/members (session)",
            url: `${api}/vaults/alpha*/members`,
            ...cookie(alice),
            parameters: uri(1),
          },
          {
            label: "PUT /vaults/{vault}/members/{username} (session)",
            url: `${api}/vaults/alpha*/members/bobby*`,
            method: "PUT",
            data: JSON.stringify({ role: "viewer" }),
            ...cookie(alice),
            parameters: uri(2),
          },
          {
            label: "GET /vaults/{vault}/secrets?limit&cursor&q (session)",
            url: `${api}/vaults/alpha*/secrets?limit=1*&cursor=${cursor}*&q=KE*`,
            ...cookie(alice),
            parameters: uri(4),
          },
          {
            label: "GET /vaults/{vault}/secrets/{name} (token)",
            url: `${api}/vaults/alpha*/secrets/KEY*`,
            headers: [bearer],
            parameters: uri(2),
          },
          {
            label: "PUT /vaults/{vault}/secrets/{name} (token)",
            url: `${api}/vaults/alpha*/secrets/SCRATCH*`,
            method: "PUT",
            data: JSON.stringify({ value: "scratch*", note: "note*" }),
            headers: [bearer],
            parameters: uri(2),
          },
          {
            label: "GET /vaults/{vault}/secrets/{name}/versions (session)",
            url: `${api}/vaults/alpha*/secrets/KEY*/versions`,
            ...cookie(alice),
            parameters: uri(2),
          },
          {
            label: "GET /vaults/{vault}/secrets/{name}/versions/{n} (token)",
            url: `${api}/vaults/alpha*/secrets/KEY*/versions/1*`,
            headers: [bearer],
            parameters: uri(3),
          },
          {
            label: "POST /vaults/{vault}/secrets/{name}/versions/{n}/restore (token)",
            url: `${api}/vaults/alpha*/secrets/RESTORE*/versions/1*/restore`,
            method: "POST",
            headers: [bearer],
            parameters: uri(3),
          },
          {
            label: "GET /admin/users?query&role&disabled&limit (admin session)",
            url: `${api}/admin/users?query=ali*&role=member*&disabled=false*&limit=10*`,
            ...cookie(root),
            parameters: uri(4),
          },
          {
            label: "GET /audit?actor&action&since&until&limit (admin session)",
            url: `${api}/audit?actor=alice*&action=secret.reveal*&since=2020-01-01T00:00:00.000Z*&until=2099-01-01T00:00:00.000Z*&limit=10*`,
            ...cookie(root),
            parameters: uri(5),
          },
        ];

        const home = join(cwd, "sqlmap-home");
        mkdirSync(home);
        for (const [index, target] of targets.entries()) {
          await t.test(target.label, async () => {
            const output = await runSqlmap(target, join(cwd, `sqlmap-${index}`), home);
            assertClean(target, output);
          });
        }

        // The server is up, and nothing the scan aimed at changed.
        assert.equal(instance.process.child.exitCode, null, "the server is still running");
        assert.deepEqual(await snapshot(base, alice, root), before);
        await instance.stop();
        instance = null;
        const verified = await runCli(["audit", "verify"], env, cwd);
        assert.equal(verified.code, 0, `${verified.stdout}${verified.stderr}`);
      } finally {
        await instance?.stop();
        await mail.close();
        await database.cleanup();
        rmSync(cwd, { recursive: true, force: true });
      }
    });
  }
});

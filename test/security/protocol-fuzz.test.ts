/**
 * Protocol fuzzing of the HTTP API against a real `strongroom serve` process.
 *
 * Two parties: a victim (two vaults of versioned secrets, members, an API token) and an
 * attacker (a member with a vault of their own, viewer of one of the victim's vaults, a
 * session with its CSRF token and two narrowly scoped bearer tokens). Every operation of
 * the server's own OpenAPI document is then driven by fast-check with values built from its
 * schemas — valid, at the limits, hostile, of the wrong type — in bodies that are too big,
 * too deep, mis-encoded, or carry duplicate and prototype-polluting keys, sent byte for byte
 * as the attacker (session with and without CSRF token, bearer tokens, forged or no
 * credentials) and often aimed at the victim's names.
 *
 * Every answer must be below 500, come in time, and be problem+json when it is a 4xx with a
 * body; no answer may carry the victim's secret values or credentials, nor a pollution canary
 * the request did not send; the server must stay up. Afterwards: everything the victim owns
 * is byte for byte what it was (database rows and what the victim's own API calls show),
 * requests that would show a polluted prototype answer exactly as before, and
 * `strongroom audit verify` passes.
 *
 * FUZZ_RUNS (default 20 000, at most three minutes) and FUZZ_SEED reproduce or lengthen a
 * run; a failure prints the shrunk request and the seed. FUZZ_VERBOSE=1 prints the statuses
 * each operation got.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import fc from "fast-check";
import pg from "pg";
import type { DatabaseTarget } from "../../src/db/url.js";
import { JSON_BODY_LIMIT_BYTES } from "../../src/http/json-body.js";
import { type Instance, startInstance } from "../cluster/harness.js";
import { testEnv } from "../helpers/app.js";
import { createTestDatabase, databaseUrlOf, type TestDatabase } from "../helpers/databases.js";
import {
  bodyBytes,
  type Credentials,
  describePlan,
  type Operation,
  operationsOf,
  POLLUTION_CANARY,
  type RawResponse,
  type RequestPlan,
  requestsFor,
  sendRaw,
  type Targets,
} from "../helpers/openapi-fuzz.js";
import { runCli } from "../helpers/process.js";
import { findFreePort } from "../helpers/redis-server.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 20_000);
const SEED =
  process.env.FUZZ_SEED === undefined ? Date.now() % 2 ** 31 : Number(process.env.FUZZ_SEED);

/**
 * Time bounds per request. They catch catastrophic regex backtracking and loops, which take
 * minutes, not a slow moment on a loaded two-core machine running other suites alongside.
 * Sign-in and the other password routes run Argon2id (19 MiB, off the event loop) and get more.
 */
const ORDINARY_BOUND_MS = 5_000;
const ARGON2_BOUND_MS = 20_000;
/** Routes that may hash or verify a password. */
const ARGON2_OPERATIONS =
  /^(POST \/api\/v1\/auth\/|POST \/api\/v1\/me\/password|DELETE \/api\/v1\/me\/mfa\/totp|POST \/api\/v1\/admin\/users$)/;
/** Routes whose use can end the attacker's session; it is checked (and renewed) after them. */
const SESSION_ENDING =
  /^(POST \/api\/v1\/auth\/|DELETE \/api\/v1\/me\/sessions|POST \/api\/v1\/me\/password)/;

const PASSWORDS = {
  victim: "harbour-quill-meridian-83-sable",
  attacker: "copper-nettle-zenith-41-ravine",
  bystander: "willow-ember-cascade-57-tundra",
};
const USERS = {
  victim: "fuzz_victim",
  attacker: "fuzz_attacker",
  bystander: "fuzz_bystander",
};
const VICTIM_VAULT = "victim-vault";
const SHARED_VAULT = "shared-vault";
const ATTACKER_VAULT = "attacker-vault";

interface SessionAuth {
  cookie: string;
  csrfToken: string;
}

interface JsonReply {
  status: number;
  headers: RawResponse["headers"];
  text: string;
  json: Record<string, unknown>;
}

interface World {
  cwd: string;
  database: TestDatabase;
  env: NodeJS.ProcessEnv;
  port: number;
  server: Instance;
  victim: SessionAuth & { token: string; tokenId: string; sessionId: string };
  attacker: SessionAuth & { readToken: string; writeToken: string };
  /** Strings only the victim may ever see: secret values of the victim-only vault, credentials. */
  victimOnly: string[];
  operations: Operation[];
}

/** Requests sent by the fuzzing (setup and checks not counted), and what they got. */
const stats = {
  sent: 0,
  /** Over-limit bodies whose 413 the client lost to the reset (see `attack`). */
  cutOff: 0,
  statuses: new Map<number, number>(),
  byOperation: new Map<string, Map<number, number>>(),
  slowest: [] as Array<{ ms: number; line: string }>,
};

let world: World;

/** A JSON request as a setup step or a check makes it (not fuzzed). */
async function call(
  method: string,
  path: string,
  options: { session?: SessionAuth; bearer?: string; body?: unknown; localAddress?: string } = {},
): Promise<JsonReply> {
  const headers: Record<string, string> = {};
  if (options.session !== undefined) {
    headers.cookie = options.session.cookie;
    headers["x-csrf-token"] = options.session.csrfToken;
  }
  if (options.bearer !== undefined) headers.authorization = `Bearer ${options.bearer}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await sendRaw({
    port: world.port,
    method,
    target: `/api/v1${path}`,
    headers,
    body: options.body === undefined ? null : Buffer.from(JSON.stringify(options.body)),
    chunked: false,
    timeoutMs: 60_000,
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  });
  const text = response.body.toString("utf8");
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Not JSON (an empty 204): leave `json` empty.
  }
  return { status: response.status, headers: response.headers, text, json };
}

async function expectStatus(reply: Promise<JsonReply>, status: number): Promise<JsonReply> {
  const answered = await reply;
  assert.equal(answered.status, status, answered.text);
  return answered;
}

/** Signs in over the API; `localAddress` keeps the attacker's own sign-ins apart from the fuzz. */
async function signIn(
  username: string,
  password: string,
  localAddress?: string,
): Promise<SessionAuth & { userId: string }> {
  const reply = await expectStatus(
    call("POST", "/auth/login", {
      body: { username, password },
      ...(localAddress === undefined ? {} : { localAddress }),
    }),
    200,
  );
  const setCookie = [reply.headers["set-cookie"] ?? []].flat()[0] ?? "";
  const cookie = setCookie.split(";")[0] ?? "";
  assert.match(cookie, /strongroom_session=./);
  return {
    cookie,
    csrfToken: String(reply.json.csrfToken),
    userId: String((reply.json.user as { id: string }).id),
  };
}

/** The victim's two vaults and the attacker's own, with versioned secrets, members and tokens. */
async function populate(): Promise<Pick<World, "victim" | "attacker" | "victimOnly">> {
  const marker = randomBytes(6).toString("hex");
  const victimSession = await signIn(USERS.victim, PASSWORDS.victim);
  const attackerSession = await signIn(USERS.attacker, PASSWORDS.attacker);
  const asVictim = { session: victimSession };
  const asAttacker = { session: attackerSession };

  await expectStatus(
    call("POST", "/vaults", {
      ...asVictim,
      body: { slug: VICTIM_VAULT, description: "the victim's own" },
    }),
    201,
  );
  await expectStatus(call("POST", "/vaults", { ...asVictim, body: { slug: SHARED_VAULT } }), 201);
  const victimOnly: string[] = [];
  const secrets: Array<[string, string, number]> = [
    [VICTIM_VAULT, "DB_PASSWORD", 3],
    [VICTIM_VAULT, "API_KEY", 2],
    [VICTIM_VAULT, "CERT", 1],
    [SHARED_VAULT, "SHARED_TOKEN", 2],
  ];
  for (const [vault, name, versions] of secrets) {
    for (let version = 1; version <= versions; version++) {
      const value =
        vault === VICTIM_VAULT
          ? `VICTIMONLY-${marker}-${name}-${version}-ünïcode`
          : `shared-${marker}-${name}-${version}`;
      if (vault === VICTIM_VAULT) victimOnly.push(value);
      const note = version === 2 ? `note of ${name} v2` : undefined;
      await expectStatus(
        call("PUT", `/vaults/${vault}/secrets/${name}`, {
          ...asVictim,
          body: { value, ...(note ? { note } : {}) },
        }),
        version === 1 ? 201 : 200,
      );
    }
  }
  for (const [vault, username, role] of [
    [VICTIM_VAULT, USERS.bystander, "editor"],
    [SHARED_VAULT, USERS.bystander, "editor"],
    [SHARED_VAULT, USERS.attacker, "viewer"],
  ] as const) {
    await expectStatus(
      call("PUT", `/vaults/${vault}/members/${username}`, { ...asVictim, body: { role } }),
      201,
    );
  }
  const victimToken = await expectStatus(
    call("POST", "/me/tokens", {
      ...asVictim,
      body: {
        name: "victim deploys",
        scopes: [{ vault: VICTIM_VAULT, permission: "write" }],
        expiresInDays: 30,
      },
    }),
    201,
  );
  const sessions = await expectStatus(call("GET", "/me/sessions", asVictim), 200);
  const victimSessionId = (sessions.json.sessions as Array<{ id: string }>)[0]?.id ?? "";

  await expectStatus(
    call("POST", "/vaults", { ...asAttacker, body: { slug: ATTACKER_VAULT } }),
    201,
  );
  for (let version = 1; version <= 2; version++) {
    await call("PUT", `/vaults/${ATTACKER_VAULT}/secrets/ATTACKER_KEY`, {
      ...asAttacker,
      body: { value: `attacker-${version}` },
    });
  }
  const { readToken, writeToken } = await mintAttackerTokens(attackerSession);
  const victimCookieValue = victimSession.cookie.split("=")[1] ?? "";
  victimOnly.push(String(victimToken.json.token), victimCookieValue, victimSession.csrfToken);
  return {
    victim: {
      ...victimSession,
      token: String(victimToken.json.token),
      tokenId: String(victimToken.json.id),
      sessionId: victimSessionId,
    },
    attacker: {
      ...attackerSession,
      readToken,
      writeToken,
    },
    victimOnly,
  };
}

/** What the attacker presents for each kind of credentials. */
function credentialHeaders(credentials: Credentials): Record<string, string> {
  const { attacker, victim } = world;
  const flip = (text: string): string => `${text.slice(0, -1)}${text.endsWith("A") ? "B" : "A"}`;
  switch (credentials) {
    case "session+csrf":
      return { cookie: attacker.cookie, "x-csrf-token": attacker.csrfToken };
    case "session":
      return { cookie: attacker.cookie };
    case "session+wrong-csrf":
      // The victim's token with the attacker's session: bound to another session, so refused.
      return { cookie: attacker.cookie, "x-csrf-token": victim.csrfToken };
    case "bearer-read":
      return { authorization: `Bearer ${attacker.readToken}` };
    case "bearer-write":
      return { authorization: `Bearer ${attacker.writeToken}` };
    case "none":
      return {};
    case "forged-bearer":
      return { authorization: `Bearer ${flip(victim.token)}` };
    case "forged-cookie":
      return { cookie: flip(victim.cookie), "x-csrf-token": victim.csrfToken };
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The last lines the server wrote (its error log), for a failure message. */
function serverLogTail(): string {
  const out = `${world.server.process.stdout()}${world.server.process.stderr()}`;
  return out.split("\n").slice(-15).join("\n");
}

/**
 * Sends one generated request as the attacker and checks the answer; throws with the request
 * spelled out when a check fails.
 */
async function attack(plan: RequestPlan): Promise<void> {
  const headers = { ...credentialHeaders(plan.credentials), ...plan.headers };
  const body = bodyBytes(plan.body);
  const slow = ARGON2_OPERATIONS.test(plan.operation);
  const bound = slow ? ARGON2_BOUND_MS : ORDINARY_BOUND_MS;
  const described = (): string => describePlan(plan, headers);
  let response: RawResponse;
  try {
    response = await sendRaw({
      port: world.port,
      method: plan.method,
      target: plan.target,
      headers,
      body,
      chunked: plan.chunked,
      timeoutMs: Math.max(bound * 3, 30_000),
    });
  } catch (error) {
    const alive = world.server.process.child.exitCode === null;
    // A body over the limit is refused before it is read to the end; Node then closes the
    // socket with unread bytes in it, which resets the connection, and the client's kernel
    // may drop the answer it had already received (no lingering close, unlike nginx in front).
    // That is the client losing the 413, not the server failing: count it, check the server.
    if (
      alive &&
      body !== null &&
      body.length > JSON_BODY_LIMIT_BYTES &&
      /without an answer \((write EPIPE|read ECONNRESET|write ECONNRESET)\)/.test(
        (error as Error).message,
      )
    ) {
      stats.sent++;
      stats.cutOff++;
      return;
    }
    throw new Error(
      `no answer (${(error as Error).message}); server ${alive ? "still running" : "EXITED"}\n  ${described()}\n${serverLogTail()}`,
    );
  }
  stats.sent++;
  stats.statuses.set(response.status, (stats.statuses.get(response.status) ?? 0) + 1);
  const perOperation = stats.byOperation.get(plan.operation) ?? new Map<number, number>();
  perOperation.set(response.status, (perOperation.get(response.status) ?? 0) + 1);
  stats.byOperation.set(plan.operation, perOperation);
  stats.slowest.push({
    ms: response.elapsedMs,
    line: `${plan.method} ${plan.target.slice(0, 80)} → ${response.status}`,
  });
  stats.slowest.sort((a, b) => b.ms - a.ms);
  stats.slowest.length = Math.min(stats.slowest.length, 5);

  const text = response.body.toString("utf8");
  const fail = (why: string): never => {
    throw new Error(
      `${why}\n  ${described()}\n  → ${response.status} ${String(response.headers["content-type"] ?? "")} ${text.slice(0, 500)}`,
    );
  };
  if (world.server.process.child.exitCode !== null) fail(`the server exited\n${serverLogTail()}`);
  if (response.status >= 500) fail(`server error\n${serverLogTail()}`);
  if (response.elapsedMs > bound)
    fail(`answered after ${Math.round(response.elapsedMs)} ms (bound ${bound} ms)`);
  if (response.status >= 400 && response.body.length > 0) {
    const type = String(response.headers["content-type"] ?? "");
    if (!type.startsWith("application/problem+json"))
      fail("a 4xx that is not application/problem+json");
    let problem: Record<string, unknown> = {};
    try {
      problem = JSON.parse(text) as Record<string, unknown>;
    } catch {
      fail("a problem+json body that does not parse");
    }
    if (typeof problem.type !== "string" || typeof problem.title !== "string")
      fail("a problem without type or title");
    if (problem.status !== response.status)
      fail("a problem whose status differs from the HTTP status");
  }
  const sent = `${plan.target}\n${JSON.stringify(headers)}\n${body?.toString("utf8") ?? ""}`;
  for (const secret of world.victimOnly) {
    if (text.includes(secret) && !sent.includes(secret))
      fail("the answer carries something only the victim may see");
  }
  if (text.includes(POLLUTION_CANARY) && !sent.includes(POLLUTION_CANARY))
    fail("the pollution canary came back unasked");
  // No success in the victim's own vault, whichever way its name was spelled.
  const segments = (plan.target.split("?")[0] ?? "").split("/");
  if (
    response.status < 300 &&
    segments[3] === "vaults" &&
    decodeSegment(segments[4] ?? "") === VICTIM_VAULT
  ) {
    fail("the attacker succeeded in the victim's vault");
  }

  if (SESSION_ENDING.test(plan.operation) || response.headers["set-cookie"] !== undefined) {
    await keepAttackerSignedIn();
  }
  if (plan.method === "DELETE" && response.status < 300) await keepAttackerVault();
}

/**
 * Puts back the attacker's own vault, secret and tokens after the attacker deleted them (their
 * right), so later requests still reach the handlers instead of a 404.
 */
async function keepAttackerVault(): Promise<void> {
  const asAttacker = { session: world.attacker };
  const vault = await call("GET", `/vaults/${ATTACKER_VAULT}`, asAttacker);
  if (vault.status === 404) {
    const created = await call("POST", "/vaults", {
      ...asAttacker,
      body: { slug: ATTACKER_VAULT },
    });
    // 409: the attacker made someone else an owner and left; the vault is theirs now.
    if (created.status === 409) return;
    assert.equal(created.status, 201, created.text);
    // Token scopes name the vault by id: the old tokens lost it with the vault.
    Object.assign(world.attacker, await mintAttackerTokens(world.attacker));
  }
  const secret = await call(
    "GET",
    `/vaults/${ATTACKER_VAULT}/secrets/ATTACKER_KEY/versions`,
    asAttacker,
  );
  if (secret.status === 404) {
    for (let version = 1; version <= 2; version++) {
      await call("PUT", `/vaults/${ATTACKER_VAULT}/secrets/ATTACKER_KEY`, {
        ...asAttacker,
        body: { value: `attacker-${version}` },
      });
    }
  }
}

/** A read token for the attacker's vault and the shared one, a write token for their own. */
async function mintAttackerTokens(
  session: SessionAuth,
): Promise<{ readToken: string; writeToken: string }> {
  const mint = async (name: string, scopes: unknown[]): Promise<string> => {
    const reply = await expectStatus(
      call("POST", "/me/tokens", { session, body: { name, scopes, expiresInDays: 1 } }),
      201,
    );
    return String(reply.json.token);
  };
  // The shared vault only while the attacker is still a member (they may have left it).
  const shared = await call("GET", `/vaults/${SHARED_VAULT}`, { session });
  const own = { vault: ATTACKER_VAULT, permission: "read" };
  return {
    readToken: await mint(
      "attacker read",
      shared.status === 200 ? [own, { vault: SHARED_VAULT, permission: "read" }] : [own],
    ),
    writeToken: await mint("attacker write", [{ vault: ATTACKER_VAULT, permission: "write" }]),
  };
}

/** Signs the attacker in again (from another loopback address) if a request ended the session. */
async function keepAttackerSignedIn(): Promise<void> {
  const me = await call("GET", "/me", { session: world.attacker });
  if (me.status === 200) return;
  const renewed = await signIn(USERS.attacker, PASSWORDS.attacker, "127.0.0.2");
  world.attacker.cookie = renewed.cookie;
  world.attacker.csrfToken = renewed.csrfToken;
}

/** The columns an attacker may legitimately move: failed sign-ins at the victim's name. */
const VOLATILE_COLUMNS: Record<string, string[]> = {
  users: ["failed_login_count", "locked_until"],
  // Sliding expiry, moved by the victim's own (snapshot) requests.
  sessions: ["last_seen_at", "idle_expires_at"],
};

/** Everything the victim (and the bystander) own, read straight from the database. */
async function snapshotDatabase(
  target: DatabaseTarget,
  attackerId: string,
): Promise<Record<string, unknown[]>> {
  const users = [USERS.victim, USERS.bystander];
  const vaults = [VICTIM_VAULT, SHARED_VAULT];
  const inUsers = "(select id from users where username_key in (?, ?))";
  const inVaults = "(select id from vaults where slug in (?, ?))";
  const queries: Record<string, [string, unknown[]]> = {
    users: ["select * from users where username_key in (?, ?) order by username_key", users],
    sessions: [`select * from sessions where user_id in ${inUsers} order by id`, users],
    api_tokens: [`select * from api_tokens where user_id in ${inUsers} order by id`, users],
    recovery_codes: [`select * from recovery_codes where user_id in ${inUsers} order by id`, users],
    vaults: ["select * from vaults where slug in (?, ?) order by slug", vaults],
    // The attacker may leave the shared vault (their own right); checked apart below.
    vault_members: [
      `select * from vault_members where vault_id in ${inVaults} and user_id <> ? order by vault_id, user_id`,
      [...vaults, attackerId],
    ],
    secrets: [
      `select * from secrets where vault_id in ${inVaults} order by vault_id, name`,
      vaults,
    ],
    secret_versions: [
      `select * from secret_versions where secret_id in (select id from secrets where vault_id in ${inVaults}) order by secret_id, version`,
      vaults,
    ],
    shares: [`select * from shares where vault_id in ${inVaults} order by id`, vaults],
    shredded_secrets: [
      `select * from shredded_secrets where vault_id in ${inVaults} order by secret_id`,
      vaults,
    ],
  };
  const rows = await queryAll(target, queries);
  const snapshot: Record<string, unknown[]> = {};
  for (const [table, list] of Object.entries(rows)) {
    snapshot[table] = list.map((row) => {
      const plain: Record<string, unknown> = {};
      for (const [column, value] of Object.entries(row)) {
        if (VOLATILE_COLUMNS[table]?.includes(column)) continue;
        plain[column] = Buffer.isBuffer(value)
          ? `hex:${value.toString("hex")}`
          : value instanceof Date
            ? value.toISOString()
            : value;
      }
      return plain;
    });
  }
  return snapshot;
}

async function queryAll(
  target: DatabaseTarget,
  queries: Record<string, [string, unknown[]]>,
): Promise<Record<string, Array<Record<string, unknown>>>> {
  const result: Record<string, Array<Record<string, unknown>>> = {};
  if (target.kind === "sqlite") {
    const sqlite = new Database(target.path, { readonly: true, fileMustExist: true });
    try {
      for (const [name, [sql, params]] of Object.entries(queries)) {
        result[name] = sqlite.prepare(sql).all(...params) as Array<Record<string, unknown>>;
      }
    } finally {
      sqlite.close();
    }
    return result;
  }
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  try {
    // The schema name is generated from hex digits by the test helper.
    await client.query(`set search_path to ${target.schema ?? "public"}`);
    for (const [name, [sql, params]] of Object.entries(queries)) {
      let n = 0;
      const numbered = sql.replace(/\?/g, () => `$${++n}`);
      result[name] = (await client.query(numbered, params)).rows as Array<Record<string, unknown>>;
    }
  } finally {
    await client.end();
  }
  return result;
}

/** Everything the victim's own API calls show: vaults, members, every version's value, tokens. */
async function snapshotApi(): Promise<Record<string, unknown>> {
  const asVictim = { session: world.victim };
  const get = async (path: string): Promise<unknown> =>
    (await expectStatus(call("GET", path, asVictim), 200)).json;
  const me = (await get("/me")) as { user: Record<string, unknown> };
  // An attacker may fail sign-ins at the victim's name; that counter is theirs to move.
  const { failedLoginsSinceLastLogin: _failed, ...user } = me.user;
  // The victim's own vaults: the attacker may add the victim to the attacker's vault (an
  // owner adds members without asking), which lists it among the victim's too.
  const { vaults } = (await get("/vaults")) as { vaults: Array<{ slug: string }> };
  const snapshot: Record<string, unknown> = {
    me: user,
    vaults: vaults.filter((v) => v.slug === VICTIM_VAULT || v.slug === SHARED_VAULT),
    tokens: await get("/me/tokens"),
  };
  for (const vault of [VICTIM_VAULT, SHARED_VAULT]) {
    snapshot[vault] = await get(`/vaults/${vault}`);
    // The attacker may leave the shared vault (their own right); attackerStanding checks them.
    const { members } = (await get(`/vaults/${vault}/members`)) as {
      members: Array<{ username: string }>;
    };
    snapshot[`${vault} members`] = members.filter((m) => m.username !== USERS.attacker);
    const list = (await get(`/vaults/${vault}/secrets?limit=200`)) as {
      secrets: Array<{ name: string }>;
    };
    snapshot[`${vault} secrets`] = list;
    for (const { name } of list.secrets) {
      snapshot[`${vault}/${name}`] = await get(`/vaults/${vault}/secrets/${name}`);
      const versions = (await get(`/vaults/${vault}/secrets/${name}/versions`)) as {
        versions: Array<{ version: number }>;
      };
      snapshot[`${vault}/${name} versions`] = versions;
      for (const { version } of versions.versions) {
        snapshot[`${vault}/${name} v${version}`] = await get(
          `/vaults/${vault}/secrets/${name}/versions/${version}`,
        );
      }
    }
  }
  return snapshot;
}

/**
 * Requests whose answers would change if a prototype were polluted: strict-object validation
 * lists unknown keys (an inherited enumerable key would show up), problems list their fields,
 * and the attacker's profile has a fixed set of keys and a role.
 */
async function pollutionProbes(): Promise<unknown[]> {
  const { attacker } = world;
  const withoutId = (reply: JsonReply): unknown => {
    const { requestId: _id, ...rest } = reply.json;
    return { status: reply.status, type: reply.headers["content-type"], body: rest };
  };
  const me = await call("GET", "/me", { session: attacker });
  const user = (me.json.user ?? {}) as Record<string, unknown>;
  return [
    { status: me.status, keys: Object.keys(user).sort(), role: user.role, disabled: user.disabled },
    withoutId(await call("GET", "/no-such-endpoint", { session: attacker })),
    withoutId(await call("GET", "/admin/users", { session: attacker })),
    withoutId(await call("GET", "/vaults", {})),
    withoutId(await call("POST", "/auth/login", { body: {} })),
    withoutId(await call("POST", "/vaults", { session: attacker, body: { slug: "A", extra: 1 } })),
    withoutId(
      await call("PUT", "/vaults/attacker-vault/secrets/OK", {
        bearer: attacker.writeToken,
        body: { value: "", x: {} },
      }),
    ),
    withoutId(
      await call("GET", "/vaults/attacker-vault/secrets?limit=0&zz=1", {
        bearer: attacker.readToken,
      }),
    ),
    withoutId(
      await call("POST", "/me/tokens", {
        session: attacker,
        body: { name: "p", scopes: [{}], expiresInDays: 0 },
      }),
    ),
  ];
}

/** The attacker's standing: still a member, and at most a viewer of the shared vault. */
async function attackerStanding(target: DatabaseTarget): Promise<unknown> {
  const rows = await queryAll(target, {
    user: ["select role, disabled_at from users where username_key = ?", [USERS.attacker]],
    memberships: [
      "select v.slug, m.role from vault_members m join vaults v on v.id = m.vault_id join users u on u.id = m.user_id where u.username_key = ? and v.slug in (?, ?) order by v.slug",
      [USERS.attacker, VICTIM_VAULT, SHARED_VAULT],
    ],
  });
  return rows;
}

describe("protocol fuzzing of the HTTP API", { timeout: 600_000 }, () => {
  let databaseBefore: Record<string, unknown[]>;
  let apiBefore: Record<string, unknown>;
  let probesBefore: unknown[];
  let attackerId: string;
  const startedAt = performance.now();

  before(async () => {
    const cwd = mkdtempSync(join(tmpdir(), "strongroom-fuzz-"));
    const database = await createTestDatabase();
    const port = await findFreePort();
    const env = testEnv({
      DATABASE_URL: databaseUrlOf(database.target),
      LOG_LEVEL: "error",
      // Thousands of requests per credential: the per-caller budget (kept in the path, at
      // its maximum) would otherwise answer most of them 429 before they reach a route.
      API_RATE_LIMIT: "1000000",
    });
    for (const [role, username] of Object.entries(USERS)) {
      const made = await runCli(
        ["users", "create", username, "--email", `${username}@example.test`, "--password-stdin"],
        env,
        cwd,
        `${PASSWORDS[role as keyof typeof PASSWORDS]}\n`,
      );
      assert.equal(made.code, 0, made.stderr);
    }
    const server = await startInstance(env, cwd, port);
    world = { cwd, database, env, port, server } as World;
    Object.assign(world, await populate());
    const document = await expectStatus(call("GET", "/openapi.json"), 200);
    world.operations = operationsOf(document.json);
    assert.ok(world.operations.length >= 30, `${world.operations.length} operations documented`);

    attackerId = String(
      ((await call("GET", "/me", { session: world.attacker })).json.user as { id: string }).id,
    );
    databaseBefore = await snapshotDatabase(database.target, attackerId);
    apiBefore = await snapshotApi();
    probesBefore = await pollutionProbes();
    console.log(`fuzz seed ${SEED}, ${RUNS} runs over ${world.operations.length} operations`);
  });

  after(async () => {
    if (world === undefined) return;
    if (world.server.process.child.exitCode === null) world.server.process.child.kill("SIGKILL");
    await world.server.process.exited;
    await world.database.cleanup();
    rmSync(world.cwd, { recursive: true, force: true });
  });

  /** Names in path parameters: the victim's things first, the attacker's own, the bystander's. */
  function pathTargets(): Targets {
    return {
      vault: [VICTIM_VAULT, SHARED_VAULT, ATTACKER_VAULT],
      // The attacker's own key twice: its pairings with the attacker's vault reach the handlers.
      name: [
        "ATTACKER_KEY",
        "ATTACKER_KEY",
        "DB_PASSWORD",
        "API_KEY",
        "CERT",
        "SHARED_TOKEN",
        "db_password",
      ],
      username: [USERS.victim, USERS.bystander, USERS.attacker, USERS.victim.toUpperCase()],
      id: [world.victim.tokenId, world.victim.sessionId],
      n: [1, 2, 3],
    };
  }

  /**
   * Names in bodies. Not the attacker's own username: failed sign-ins at it would lock the
   * attacker out, and a sign-in as someone else's name is what is being tried.
   */
  function bodyTargets(): Targets {
    return {
      slug: [VICTIM_VAULT, SHARED_VAULT, ATTACKER_VAULT],
      vault: [VICTIM_VAULT, SHARED_VAULT, ATTACKER_VAULT],
      username: [
        USERS.victim,
        USERS.bystander,
        `${USERS.victim}@example.test`,
        USERS.victim.toUpperCase(),
      ],
      email: [
        `${USERS.victim}@example.test`,
        `${USERS.victim.toUpperCase()}@EXAMPLE.TEST`,
        `${USERS.bystander}@example.test`,
      ],
      role: ["owner", "admin"],
      permission: ["write"],
    };
  }

  it("every operation gets every malformed body shape", async () => {
    // A fixed sweep, so each operation sees each shape at least once whatever the seed draws.
    const shapes: Array<{ body: RequestPlan["body"]; headers?: Record<string, string> }> = [
      { body: { kind: "huge", bytes: 600 * 1024 } },
      { body: { kind: "deep", depth: 10_000, open: "[" } },
      { body: { kind: "deep", depth: 10_000, open: '{"a":' } },
      { body: { kind: "text", text: '{"name":"a","name":"b","slug":"x","slug":"victim-vault"}' } },
      {
        body: {
          kind: "text",
          text: `{"__proto__":{"${POLLUTION_CANARY}":1,"role":"admin"},"constructor":{"prototype":{"${POLLUTION_CANARY}":1}}}`,
        },
      },
      {
        body: {
          kind: "text",
          text: `{"prototype":{"${POLLUTION_CANARY}":1},"a":{"__proto__":{"${POLLUTION_CANARY}":1}}}`,
        },
      },
      { body: { kind: "utf16", value: { value: "x" } } },
      { body: { kind: "bytes", value: { value: "x", name: "x" }, hex: "c0af" } },
      {
        body: { kind: "json", value: { value: "x" } },
        headers: { "content-type": "application/json", "content-encoding": "gzip" },
      },
      { body: { kind: "json", value: { value: "x" } }, headers: {} },
      { body: { kind: "json", value: { value: "x" } }, headers: { "content-type": "text/plain" } },
      { body: { kind: "text", text: "" } },
    ];
    for (const operation of world.operations) {
      const target = operation.path
        .replace("{vault}", VICTIM_VAULT)
        .replace("{name}", "DB_PASSWORD")
        .replace("{username}", USERS.victim)
        .replace("{n}", "1")
        .replace("{id}", world.victim.tokenId);
      for (const shape of shapes) {
        for (const credentials of ["session+csrf", "bearer-write"] as const) {
          await attack({
            operation: operation.id,
            method: operation.method,
            target,
            credentials,
            headers: shape.headers ?? { "content-type": "application/json" },
            body: shape.body,
            chunked: false,
          });
        }
      }
    }
  });

  it("generated requests for every operation", async () => {
    const paths = pathTargets();
    const bodies = bodyTargets();
    // Path targets go in path parameters; body targets in bodies and queries.
    const requests = fc.oneof(
      ...world.operations.map((operation) =>
        requestsFor(operation, {
          ...bodies,
          ...Object.fromEntries(
            Object.entries(paths).filter(([key]) =>
              operation.pathParams.some((p) => p.name === key),
            ),
          ),
        }),
      ),
    );
    await fc.assert(fc.asyncProperty(requests, attack), {
      numRuns: RUNS,
      seed: SEED,
      // About a minute here; a slower machine stops early rather than run past the time box
      // (the count of requests sent is printed at the end). Shrinking counts towards it too.
      interruptAfterTimeLimit: 180_000,
      markInterruptAsFailure: false,
    });
  });

  it("no prototype was polluted", async () => {
    assert.deepEqual(await pollutionProbes(), probesBefore);
  });

  it("the victim's data is unchanged, the server still answers, and the audit chain verifies", async () => {
    assert.equal(world.server.process.child.exitCode, null, "the server is still running");
    const ready = await fetch(`http://127.0.0.1:${world.port}/readyz`);
    assert.equal(ready.status, 200);
    // The database first: the victim's own reads below move their session's sliding expiry.
    assert.deepEqual(await snapshotDatabase(world.database.target, attackerId), databaseBefore);
    assert.deepEqual(await snapshotApi(), apiBefore);
    const standing = (await attackerStanding(world.database.target)) as {
      user: Array<{ role: string; disabled_at: unknown }>;
      memberships: Array<{ slug: string; role: string }>;
    };
    assert.deepEqual(standing.user, [{ role: "member", disabled_at: null }]);
    for (const membership of standing.memberships)
      assert.deepEqual(membership, { slug: SHARED_VAULT, role: "viewer" });

    await world.server.stop();
    const verified = await runCli(["audit", "verify"], world.env, world.cwd);
    assert.equal(verified.code, 0, `${verified.stdout}${verified.stderr}`);

    const seconds = Math.round((performance.now() - startedAt) / 1000);
    const statuses = [...stats.statuses.entries()]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s}×${n}`)
      .join(" ");
    console.log(
      `${stats.sent} requests in ${seconds} s; statuses ${statuses}; over-limit bodies cut off before their answer: ${stats.cutOff}`,
    );
    if (process.env.FUZZ_VERBOSE) {
      for (const [operation, counts] of [...stats.byOperation].sort()) {
        const line = [...counts].sort(([a], [b]) => a - b).map(([s, n]) => `${s}×${n}`);
        console.log(`  ${operation}: ${line.join(" ")}`);
      }
    }
    console.log(
      `slowest: ${stats.slowest.map((s) => `${Math.round(s.ms)} ms ${s.line}`).join("; ")}`,
    );
  });
});

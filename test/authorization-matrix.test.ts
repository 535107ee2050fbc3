/**
 * The authorization matrix: every API route × every kind of caller, with the status each
 * must get. A route registered without a row here fails the last test, so nothing ships
 * unexamined. Resources a caller may not see answer 404; visible but forbidden answer 403.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { hashToken } from "../src/crypto/tokens.js";
import { createApiToken } from "../src/tokens/tokens.service.js";
import type { SignedIn } from "./helpers/accounts.js";
import { asSession, createTestUser, GOOD_PASSWORD, signIn } from "./helpers/accounts.js";
import type { TestApp } from "./helpers/app.js";
import { createTestApp } from "./helpers/app.js";

const ACTORS = [
  "anonymous",
  "outsider",
  "viewer",
  "editor",
  "owner",
  "auditor",
  "admin",
  "readToken",
  "writeToken",
  "otherVaultToken",
  "expiredToken",
  "disabledUserToken",
] as const;
type Actor = (typeof ACTORS)[number];
const SESSIONS = ["outsider", "viewer", "editor", "owner", "auditor", "admin"] as const;

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
interface Row {
  method: Method;
  /** The route pattern as registered (checked against the app's routes). */
  route: string;
  /** The concrete URL (may depend on the caller, for destructive successes). */
  url: string | ((actor: Actor, n: number) => string);
  body?: (actor: Actor, n: number) => unknown;
  /** Runs before each caller's request (recreates what a previous success removed). */
  setup?: () => Promise<void>;
  expect: Partial<Record<Actor, number>> & { default: number };
}

let t: TestApp;
const sessions = {} as Record<(typeof SESSIONS)[number], SignedIn>;
const tokens = {} as Record<
  "readToken" | "writeToken" | "otherVaultToken" | "expiredToken" | "disabledUserToken",
  string
>;
const ids = {} as Record<string, string>;

/** Statuses for the callers that have no valid credentials at all. */
const BAD_CREDENTIALS = { anonymous: 401, expiredToken: 401, disabledUserToken: 401 } as const;
const onlySessions = (status: number): Partial<Record<Actor, number>> =>
  Object.fromEntries(SESSIONS.map((a) => [a, status]));
const members = (status: number): Partial<Record<Actor, number>> => ({
  viewer: status,
  editor: status,
  owner: status,
});

before(async () => {
  t = await createTestApp({ env: { REGISTRATION: "open" } });
  const users = {
    outsider: "outsider_u",
    viewer: "viewer_u",
    editor: "editor_u",
    owner: "owner_u",
    auditor: "auditor_u",
    admin: "admin_u",
  } as const;
  for (const [actor, username] of Object.entries(users)) {
    const role = actor === "auditor" ? "auditor" : actor === "admin" ? "admin" : "member";
    ids[actor] = (await createTestUser(t, { username, role })).id;
  }
  ids.disabled = (await createTestUser(t, { username: "disabled_u" })).id;
  await createTestUser(t, { username: "target_u" });
  for (const actor of SESSIONS) sessions[actor] = await signIn(t, users[actor]);

  const owner = sessions.owner;
  const api = (session: SignedIn, method: Method, url: string, payload?: unknown) =>
    t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: asSession(session),
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  assert.equal((await api(owner, "POST", "/vaults", { slug: "vault-a" })).statusCode, 201);
  assert.equal(
    (await api(sessions.outsider, "POST", "/vaults", { slug: "vault-b" })).statusCode,
    201,
  );
  for (const [username, role] of [
    ["viewer_u", "viewer"],
    ["editor_u", "editor"],
    ["disabled_u", "editor"],
  ] as const) {
    assert.equal(
      (await api(owner, "PUT", `/vaults/vault-a/members/${username}`, { role })).statusCode,
      201,
    );
  }
  assert.equal(
    (await api(owner, "PUT", "/vaults/vault-a/secrets/S1", { value: "first" })).statusCode,
    201,
  );

  const make = async (
    userId: string,
    username: string,
    vault: string,
    permission: "read" | "write",
  ) =>
    (
      await createApiToken(t.database.db, {
        userId,
        username,
        name: "m",
        scopes: [{ vault, permission }],
        expiresInDays: 30,
        now: t.clock.now(),
        address: "127.0.0.1",
      })
    ).token;
  tokens.readToken = await make(ids.owner ?? "", "owner_u", "vault-a", "read");
  tokens.writeToken = await make(ids.owner ?? "", "owner_u", "vault-a", "write");
  tokens.otherVaultToken = await make(ids.outsider ?? "", "outsider_u", "vault-b", "write");
  tokens.expiredToken = await make(ids.owner ?? "", "owner_u", "vault-a", "write");
  // By its own hash: tokens made within one millisecond tie on created_at, so "the newest"
  // could be another token (it was, once in a while, the other-vault one).
  const expired = await t.database.db
    .updateTable("api_tokens")
    .set({ expires_at: new Date(Date.now() - 1000).toISOString() })
    .where("token_hash", "=", hashToken(tokens.expiredToken))
    .executeTakeFirst();
  assert.equal(Number(expired.numUpdatedRows), 1);
  tokens.disabledUserToken = await make(ids.disabled ?? "", "disabled_u", "vault-a", "write");
  await t.database.db
    .updateTable("users")
    .set({ disabled_at: new Date().toISOString() })
    .where("id", "=", ids.disabled ?? "")
    .execute();
});
after(async () => {
  await t.close();
});

function headersFor(actor: Actor): Record<string, string> {
  if (actor === "anonymous") return {};
  if ((SESSIONS as readonly string[]).includes(actor))
    return asSession(sessions[actor as (typeof SESSIONS)[number]]);
  return { authorization: `Bearer ${tokens[actor as keyof typeof tokens]}` };
}

async function ensureVaultMembership(slug: string): Promise<void> {
  const now = new Date().toISOString();
  const existing = await t.database.db
    .selectFrom("vaults")
    .select("id")
    .where("slug", "=", slug)
    .executeTakeFirst();
  const vaultId = existing?.id ?? `id-${slug}`;
  if (existing === undefined)
    await t.database.db
      .insertInto("vaults")
      .values({ id: vaultId, slug, description: "", created_at: now, updated_at: now })
      .execute();
  await t.database.db
    .insertInto("vault_members")
    .values({ vault_id: vaultId, user_id: ids.owner ?? "", role: "owner", created_at: now })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

/** Signs in again each caller whose session has ended (by `DELETE /admin/sessions`). */
async function restoreEndedSessions(): Promise<void> {
  for (const actor of SESSIONS) {
    const me = await t.app.inject({
      url: "/api/v1/me",
      headers: { cookie: sessions[actor].cookie },
    });
    if (me.statusCode === 401) sessions[actor] = await signIn(t, `${actor}_u`);
  }
}

/** A new one-view link to vault A's S1, made by the editor; its id goes to `ids.share`. */
async function createEditorsShare(): Promise<void> {
  const response = await t.app.inject({
    method: "POST",
    url: "/api/v1/vaults/vault-a/secrets/S1/shares",
    headers: asSession(sessions.editor),
    payload: { ciphertext: "c".repeat(64) },
  });
  assert.equal(response.statusCode, 201, response.body);
  ids.share = JSON.parse(response.body).share.id;
}

const vaultA = {
  ...BAD_CREDENTIALS,
  outsider: 404,
  auditor: 404,
  admin: 404,
  otherVaultToken: 404,
};

const ROWS: Row[] = [
  // The API's description is public; broken credentials are still refused.
  {
    method: "GET",
    route: "/api/v1/openapi.json",
    url: "/openapi.json",
    expect: { default: 200, expiredToken: 401, disabledUserToken: 401 },
  },
  // Reached before having an account: every caller gets the validation answer; broken credentials are refused first.
  {
    method: "POST",
    route: "/api/v1/auth/register",
    url: "/auth/register",
    body: () => ({}),
    expect: { default: 400, expiredToken: 401, disabledUserToken: 401 },
  },
  {
    method: "POST",
    route: "/api/v1/auth/register/confirm",
    url: "/auth/register/confirm",
    body: () => ({}),
    expect: { default: 400, expiredToken: 401, disabledUserToken: 401 },
  },
  {
    method: "POST",
    route: "/api/v1/auth/login",
    url: "/auth/login",
    body: () => ({}),
    expect: { default: 400, expiredToken: 401, disabledUserToken: 401 },
  },
  {
    method: "POST",
    route: "/api/v1/auth/passkey/options",
    url: "/auth/passkey/options",
    expect: { default: 200, expiredToken: 401, disabledUserToken: 401 },
  },
  {
    method: "POST",
    route: "/api/v1/auth/passkey/login",
    url: "/auth/passkey/login",
    body: () => ({}),
    expect: { default: 400, expiredToken: 401, disabledUserToken: 401 },
  },
  {
    method: "POST",
    route: "/api/v1/auth/password-reset",
    url: "/auth/password-reset",
    body: () => ({}),
    expect: { default: 400, expiredToken: 401, disabledUserToken: 401 },
  },
  {
    method: "POST",
    route: "/api/v1/auth/password-reset/confirm",
    url: "/auth/password-reset/confirm",
    body: () => ({}),
    expect: { default: 400, expiredToken: 401, disabledUserToken: 401 },
  },
  // Step-up re-authentication: browser sessions only (a wrong password is a 401 too).
  {
    method: "POST",
    route: "/api/v1/auth/reauth",
    url: "/auth/reauth",
    body: () => ({ password: GOOD_PASSWORD }),
    expect: { default: 401, ...onlySessions(200) },
  },
  // The signed-in person's own account: browser sessions only.
  {
    method: "GET",
    route: "/api/v1/me",
    url: "/me",
    expect: { default: 401, ...onlySessions(200) },
  },
  {
    method: "PATCH",
    route: "/api/v1/me",
    url: "/me",
    body: (a, n) => ({ email: `${a}-${n}@example.test` }),
    expect: { default: 401, ...onlySessions(200) },
  },
  {
    method: "POST",
    route: "/api/v1/me/password",
    url: "/me/password",
    body: () => ({ currentPassword: GOOD_PASSWORD, newPassword: "short" }),
    expect: { default: 401, ...onlySessions(400) },
  },
  {
    method: "GET",
    route: "/api/v1/me/sessions",
    url: "/me/sessions",
    expect: { default: 401, ...onlySessions(200) },
  },
  {
    method: "DELETE",
    route: "/api/v1/me/sessions/:id",
    url: `/me/sessions/${"0".repeat(64)}`,
    expect: { default: 401, ...onlySessions(404) },
  },
  {
    method: "DELETE",
    route: "/api/v1/me/sessions",
    url: "/me/sessions",
    expect: { default: 401, ...onlySessions(204) },
  },
  {
    method: "POST",
    route: "/api/v1/me/mfa/totp",
    url: "/me/mfa/totp",
    expect: { default: 401, ...onlySessions(200) },
  },
  {
    method: "POST",
    route: "/api/v1/me/mfa/totp/confirm",
    url: "/me/mfa/totp/confirm",
    body: () => ({ code: "000000" }),
    expect: { default: 401, ...onlySessions(401) },
  },
  {
    method: "DELETE",
    route: "/api/v1/me/mfa/totp",
    url: "/me/mfa/totp",
    body: () => ({ password: GOOD_PASSWORD }),
    expect: { default: 401, ...onlySessions(204) },
  },
  // Passkeys: the signed-in user's own, through sessions only.
  {
    method: "GET",
    route: "/api/v1/me/passkeys",
    url: "/me/passkeys",
    expect: { default: 401, ...onlySessions(200) },
  },
  {
    method: "POST",
    route: "/api/v1/me/passkeys/options",
    url: "/me/passkeys/options",
    expect: { default: 401, ...onlySessions(200) },
  },
  {
    method: "POST",
    route: "/api/v1/me/passkeys",
    url: "/me/passkeys",
    // Well formed, answering no challenge: sessions get passkey-rejected, the rest 401.
    body: () => ({
      challengeId: "00000000-0000-4000-8000-000000000000",
      name: "matrix",
      response: {
        id: "AA",
        rawId: "AA",
        type: "public-key",
        response: { clientDataJSON: "AA", attestationObject: "AA" },
      },
    }),
    expect: { default: 401, ...onlySessions(400) },
  },
  {
    method: "DELETE",
    route: "/api/v1/me/passkeys/:id",
    url: "/me/passkeys/no-such-passkey",
    expect: { default: 401, ...onlySessions(404) },
  },
  // API tokens: minted by sessions only, never by a token or an auditor.
  {
    method: "GET",
    route: "/api/v1/me/tokens",
    url: "/me/tokens",
    expect: { default: 401, ...onlySessions(200), auditor: 403 },
  },
  {
    method: "POST",
    route: "/api/v1/me/tokens",
    url: "/me/tokens",
    body: () => ({
      name: "matrix",
      scopes: [{ vault: "vault-a", permission: "read" }],
      expiresInDays: 1,
    }),
    expect: { default: 401, ...members(201), outsider: 400, admin: 400, auditor: 403 },
  },
  {
    method: "DELETE",
    route: "/api/v1/me/tokens/:id",
    url: "/me/tokens/00000000-0000-4000-8000-000000000000",
    expect: { default: 401, ...onlySessions(404), auditor: 403 },
  },
  // Vaults.
  {
    method: "GET",
    route: "/api/v1/vaults",
    url: "/vaults",
    expect: { ...BAD_CREDENTIALS, default: 200, auditor: 403 },
  },
  {
    method: "POST",
    route: "/api/v1/vaults",
    url: "/vaults",
    body: (a, n) => ({ slug: `made-by-${a.toLowerCase()}-${n}` }),
    expect: { ...BAD_CREDENTIALS, default: 403, ...onlySessions(201), auditor: 403 },
  },
  {
    method: "GET",
    route: "/api/v1/vaults/:vault",
    url: "/vaults/vault-a",
    expect: { ...vaultA, default: 200 },
  },
  {
    method: "PATCH",
    route: "/api/v1/vaults/:vault",
    url: "/vaults/vault-a",
    body: () => ({ description: "matrix" }),
    expect: { ...vaultA, default: 403, owner: 200 },
  },
  {
    method: "DELETE",
    route: "/api/v1/vaults/:vault",
    // The owner's success deletes a throwaway vault of theirs; everyone else aims at vault A.
    url: (a, n) => (a === "owner" ? `/vaults/doomed-${n}` : "/vaults/vault-a"),
    setup: async () => {
      for (let n = 0; n < ACTORS.length; n++) await ensureVaultMembership(`doomed-${n}`);
    },
    expect: { ...vaultA, default: 403, owner: 204 },
  },
  {
    method: "GET",
    route: "/api/v1/vaults/:vault/members",
    url: "/vaults/vault-a/members",
    expect: { ...vaultA, default: 403, ...members(200) },
  },
  {
    method: "PUT",
    route: "/api/v1/vaults/:vault/members/:username",
    url: "/vaults/vault-a/members/target_u",
    body: () => ({ role: "viewer" }),
    expect: { ...vaultA, default: 403, owner: 201 },
  },
  {
    method: "DELETE",
    route: "/api/v1/vaults/:vault/members/:username",
    url: "/vaults/vault-a/members/target_u",
    setup: async () => {
      const vault = await t.database.db
        .selectFrom("vaults")
        .select("id")
        .where("slug", "=", "vault-a")
        .executeTakeFirstOrThrow();
      const target = await t.database.db
        .selectFrom("users")
        .select("id")
        .where("username_key", "=", "target_u")
        .executeTakeFirstOrThrow();
      await t.database.db
        .insertInto("vault_members")
        .values({
          vault_id: vault.id,
          user_id: target.id,
          role: "viewer",
          created_at: new Date().toISOString(),
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
    },
    expect: { ...vaultA, default: 403, owner: 204 },
  },
  // Secrets.
  {
    method: "GET",
    route: "/api/v1/vaults/:vault/secrets",
    url: "/vaults/vault-a/secrets",
    expect: { ...vaultA, default: 200 },
  },
  {
    method: "PUT",
    route: "/api/v1/vaults/:vault/secrets/:name",
    url: "/vaults/vault-a/secrets/S1",
    body: (a) => ({ value: `by-${a}` }),
    expect: { ...vaultA, default: 403, editor: 200, owner: 200, writeToken: 200 },
  },
  {
    method: "PATCH",
    route: "/api/v1/vaults/:vault/secrets/:name",
    url: "/vaults/vault-a/secrets/S1",
    body: () => ({ expiresAt: "2099-01-01T00:00:00Z" }),
    // Extending an expiry is the owners' decision (it can revive an expired value).
    expect: { ...vaultA, default: 403, owner: 200, writeToken: 200 },
  },
  {
    method: "GET",
    route: "/api/v1/vaults/:vault/secrets/:name",
    url: "/vaults/vault-a/secrets/S1",
    expect: { ...vaultA, default: 200 },
  },
  {
    method: "GET",
    route: "/api/v1/vaults/:vault/secrets/:name/versions",
    url: "/vaults/vault-a/secrets/S1/versions",
    expect: { ...vaultA, default: 200 },
  },
  {
    method: "GET",
    route: "/api/v1/vaults/:vault/secrets/:name/versions/:n",
    url: "/vaults/vault-a/secrets/S1/versions/1",
    expect: { ...vaultA, default: 200 },
  },
  {
    method: "POST",
    route: "/api/v1/vaults/:vault/secrets/:name/versions/:n/restore",
    url: "/vaults/vault-a/secrets/S1/versions/1/restore",
    expect: { ...vaultA, default: 403, editor: 201, owner: 201, writeToken: 201 },
  },
  {
    method: "DELETE",
    route: "/api/v1/vaults/:vault/secrets/:name",
    url: "/vaults/vault-a/secrets/DOOMED",
    setup: async () => {
      const response = await t.app.inject({
        method: "PUT",
        url: "/api/v1/vaults/vault-a/secrets/DOOMED",
        headers: asSession(sessions.owner),
        payload: { value: "to be deleted" },
      });
      assert.ok([200, 201].includes(response.statusCode));
    },
    expect: { ...vaultA, default: 403, editor: 204, owner: 204, writeToken: 204 },
  },
  // One-time share links: editors (and write tokens) make them; the link itself opens one.
  {
    method: "POST",
    route: "/api/v1/vaults/:vault/secrets/:name/shares",
    url: "/vaults/vault-a/secrets/S1/shares",
    body: () => ({ ciphertext: "c".repeat(64) }),
    expect: { ...vaultA, default: 403, editor: 201, owner: 201, writeToken: 201 },
  },
  {
    method: "GET",
    route: "/api/v1/vaults/:vault/secrets/:name/shares",
    url: "/vaults/vault-a/secrets/S1/shares",
    expect: { ...vaultA, default: 403, editor: 200, owner: 200, writeToken: 200 },
  },
  {
    method: "GET",
    route: "/api/v1/shares/:id",
    // A fresh link for every caller: whoever holds it opens it, with or without an account.
    url: () => `/shares/${ids.share}`,
    setup: createEditorsShare,
    expect: { default: 200, expiredToken: 401, disabledUserToken: 401 },
  },
  {
    method: "DELETE",
    route: "/api/v1/shares/:id",
    // The editor made it: they and the vault's owners (or the owner's write token) revoke it.
    url: () => `/shares/${ids.share}`,
    setup: createEditorsShare,
    expect: { ...vaultA, default: 403, editor: 204, owner: 204, writeToken: 204 },
  },
  // Administration and audit: sessions with the right system role only.
  {
    method: "GET",
    route: "/api/v1/admin/users",
    url: "/admin/users",
    expect: { ...BAD_CREDENTIALS, default: 403, admin: 200 },
  },
  {
    method: "POST",
    route: "/api/v1/admin/users",
    url: "/admin/users",
    body: (a, n) => ({
      username: `new_${n}_${a.slice(0, 8)}`,
      email: `new-${n}-${a}@example.test`,
      role: "member",
      password: GOOD_PASSWORD,
    }),
    expect: { ...BAD_CREDENTIALS, default: 403, admin: 201 },
  },
  {
    method: "PATCH",
    route: "/api/v1/admin/users/:username",
    url: "/admin/users/target_u",
    body: () => ({ role: "member" }),
    expect: { ...BAD_CREDENTIALS, default: 403, admin: 200 },
  },
  {
    method: "DELETE",
    route: "/api/v1/admin/users/:username",
    url: "/admin/users/doomed_user",
    setup: async () => {
      const exists = await t.database.db
        .selectFrom("users")
        .select("id")
        .where("username_key", "=", "doomed_user")
        .executeTakeFirst();
      if (exists === undefined) await createTestUser(t, { username: "doomed_user" });
    },
    expect: { ...BAD_CREDENTIALS, default: 403, admin: 204 },
  },
  {
    method: "DELETE",
    route: "/api/v1/admin/users/:username/sessions",
    // A throwaway user's, never a caller's: the rows below need every caller's session.
    url: "/admin/users/sessions_u/sessions",
    setup: async () => {
      const exists = await t.database.db
        .selectFrom("users")
        .select("id")
        .where("username_key", "=", "sessions_u")
        .executeTakeFirst();
      if (exists === undefined) await createTestUser(t, { username: "sessions_u" });
      await signIn(t, "sessions_u");
    },
    expect: { ...BAD_CREDENTIALS, default: 403, admin: 200 },
  },
  {
    method: "GET",
    route: "/api/v1/audit",
    url: "/audit",
    expect: { ...BAD_CREDENTIALS, default: 403, admin: 200, auditor: 200 },
  },
  // Next to last: the admin's success ends every session but theirs, the other callers' too;
  // it cannot be aimed at a throwaway session as the row above is. So it comes after every
  // row that needs those sessions, and its setup (run before each caller) signs in again
  // whoever it ended: the logout row below then signs out live sessions, as it means to.
  {
    method: "DELETE",
    route: "/api/v1/admin/sessions",
    url: "/admin/sessions",
    setup: restoreEndedSessions,
    expect: { ...BAD_CREDENTIALS, default: 403, admin: 200 },
  },
  // Last: signing out ends the caller's session.
  {
    method: "POST",
    route: "/api/v1/auth/logout",
    url: "/auth/logout",
    expect: { default: 204, expiredToken: 401, disabledUserToken: 401 },
  },
];

describe("authorization matrix", () => {
  for (const row of ROWS) {
    it(`${row.method} ${row.route}`, async () => {
      const mismatches: string[] = [];
      for (const [n, actor] of ACTORS.entries()) {
        await row.setup?.();
        const url = typeof row.url === "function" ? row.url(actor, n) : row.url;
        const body = row.body?.(actor, n);
        const response = await t.app.inject({
          method: row.method,
          url: `/api/v1${url}`,
          headers: headersFor(actor),
          ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
        });
        const expected = row.expect[actor] ?? row.expect.default;
        if (response.statusCode !== expected)
          mismatches.push(
            `${actor}: got ${response.statusCode}, expected ${expected} (${response.body.slice(0, 120)})`,
          );
      }
      assert.deepEqual(mismatches, []);
    });
  }

  it("has a row for every API route", () => {
    const registered = t.app.registeredRoutes
      .filter((r) => r.url.startsWith("/api/"))
      .map((r) => `${r.method} ${r.url}`);
    const covered = new Set(ROWS.map((row) => `${row.method} ${row.route}`));
    assert.deepEqual(
      registered.filter((route) => !covered.has(route)),
      [],
      "routes without a row in the matrix",
    );
    assert.deepEqual(
      [...covered].filter((route) => !registered.includes(route)),
      [],
      "rows for routes that do not exist",
    );
  });

  it("after all that, vault A's secret was only ever written by those allowed to", async () => {
    // (The sessions have signed out by now; the read token still works.)
    const versions = await t.app.inject({
      url: "/api/v1/vaults/vault-a/secrets/S1/versions",
      headers: headersFor("readToken"),
    });
    const authors = new Set(
      (JSON.parse(versions.body).versions as Array<{ createdBy: string }>).map((v) => v.createdBy),
    );
    for (const author of authors) assert.ok(["owner_u", "editor_u"].includes(author), author);
  });
});

import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import type { VaultRole } from "../../src/db/schema.js";
import { revokeAllUserTokens } from "../../src/tokens/index.js";
import type { SignedIn } from "../helpers/accounts.js";
import { asSession, createTestUser, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTokensTestApp, PRINCIPAL_PROBE_URL } from "./harness.js";

let t: TestApp;
before(async () => {
  t = await createTokensTestApp();
});
after(async () => {
  await t.close();
});

const DAY_MS = 86_400_000;
const TOKEN_PATTERN = /^sr_[A-Za-z0-9_-]{43}$/;
const TOKENS_URL = "/api/v1/me/tokens";

interface TokenBody {
  id: string;
  name: string;
  scopes: Array<{ vault: string; permission: "read" | "write" }>;
  createdAt: string;
  expiresAt: string;
  lastUsedAt: string | null;
  revoked: boolean;
}
interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: Array<{ path: string; message: string }>;
  requestId: string;
}

/** A vault with the given members, inserted directly (the vaults API is not under test). */
async function addVault(slug: string, members: Array<[userId: string, role: VaultRole]>) {
  const now = t.clock.now().toISOString();
  const id = randomUUID();
  await t.database.db
    .insertInto("vaults")
    .values({ id, slug, created_at: now, updated_at: now })
    .execute();
  for (const [userId, role] of members) {
    await t.database.db
      .insertInto("vault_members")
      .values({ vault_id: id, user_id: userId, role, created_at: now })
      .execute();
  }
  return id;
}

/** A user, signed in through the API. */
async function user(username: string, role: "admin" | "auditor" | "member" = "member") {
  await createTestUser(t, { username, role });
  return signIn(t, username);
}

const createToken = (session: SignedIn, payload: Record<string, unknown>) =>
  t.app.inject({ method: "POST", url: TOKENS_URL, headers: asSession(session), payload });

/** Creates a token that must succeed; returns the response body. */
async function issue(
  session: SignedIn,
  payload: { name?: string; scopes: TokenBody["scopes"]; expiresInDays?: number },
): Promise<TokenBody & { token: string }> {
  const response = await createToken(session, {
    name: payload.name ?? "ci",
    scopes: payload.scopes,
    expiresInDays: payload.expiresInDays ?? 30,
  });
  assert.equal(response.statusCode, 201, response.body);
  return response.json();
}

const listTokens = async (session: SignedIn): Promise<TokenBody[]> => {
  const response = await t.app.inject({ url: TOKENS_URL, headers: { cookie: session.cookie } });
  assert.equal(response.statusCode, 200, response.body);
  return (response.json() as { tokens: TokenBody[] }).tokens;
};

const revoke = (session: SignedIn, id: string) =>
  t.app.inject({ method: "DELETE", url: `${TOKENS_URL}/${id}`, headers: asSession(session) });

/** What the bearer authenticator makes of these headers. */
const probe = (headers: Record<string, string>) =>
  t.app.inject({ url: PRINCIPAL_PROBE_URL, headers });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

const countTokens = async (): Promise<number> =>
  (await t.database.db.selectFrom("api_tokens").select("id").execute()).length;

/** The problem a response carries, without its per-request id. */
function problemOf(response: LightMyRequestResponse): Omit<Problem, "requestId"> {
  assert.match(String(response.headers["content-type"]), /^application\/problem\+json/);
  const { requestId: _, ...problem } = response.json() as Problem;
  return problem;
}

function assertInvalidToken(response: LightMyRequestResponse, label: string): void {
  assert.equal(response.statusCode, 401, `${label}: ${response.body}`);
  const problem = problemOf(response);
  assert.ok(problem.type.endsWith("#unauthenticated"), label);
  assert.equal(problem.detail, "The API token is invalid, expired or revoked.", label);
  assert.match(String(response.headers["www-authenticate"]), /^Bearer .*error="invalid_token"/);
}

describe("creating, listing and revoking API tokens", () => {
  it("shows the token once, as sr_ and 256 bits, and stores only its hash", async () => {
    const alice = await user("tok_alice");
    await addVault("alice-app", [[alice.userId, "owner"]]);
    await addVault("alice-ops", [[alice.userId, "viewer"]]);
    const before = t.clock.now().getTime();
    const created = await issue(alice, {
      name: "deploy bot",
      scopes: [
        { vault: "alice-app", permission: "write" },
        { vault: "alice-ops", permission: "read" },
      ],
      expiresInDays: 30,
    });

    assert.match(created.token, TOKEN_PATTERN);
    assert.deepEqual(Object.keys(created).sort(), [
      "createdAt",
      "expiresAt",
      "id",
      "lastUsedAt",
      "name",
      "revoked",
      "scopes",
      "token",
    ]);
    assert.equal(created.name, "deploy bot");
    assert.deepEqual(created.scopes, [
      { vault: "alice-app", permission: "write" },
      { vault: "alice-ops", permission: "read" },
    ]);
    assert.equal(created.revoked, false);
    assert.equal(created.lastUsedAt, null);
    assert.equal(Date.parse(created.expiresAt) - Date.parse(created.createdAt), 30 * DAY_MS);
    assert.ok(Date.parse(created.createdAt) >= before);

    // The table holds the SHA-256 and nothing from which the token could be rebuilt.
    const rows = await t.database.db.selectFrom("api_tokens").selectAll().execute();
    const secretPart = created.token.slice(3);
    assert.ok(!JSON.stringify(rows).includes(secretPart), "token text in api_tokens");
    const row = rows.find((r) => r.id === created.id);
    assert.ok(row);
    assert.equal(row.token_hash, createHash("sha256").update(created.token).digest("hex"));

    // Two tokens are never alike.
    const second = await issue(alice, { scopes: [{ vault: "alice-app", permission: "read" }] });
    assert.notEqual(second.token, created.token);
  });

  it("lists the caller's tokens without the token text or hash, and only theirs", async () => {
    const bob = await user("tok_bob");
    const carol = await user("tok_carol");
    await addVault("bob-vault", [
      [bob.userId, "editor"],
      [carol.userId, "owner"],
    ]);
    const bobs = await issue(bob, { scopes: [{ vault: "bob-vault", permission: "read" }] });
    await issue(carol, { scopes: [{ vault: "bob-vault", permission: "write" }] });

    const response = await t.app.inject({ url: TOKENS_URL, headers: { cookie: bob.cookie } });
    assert.equal(response.statusCode, 200);
    assert.ok(!response.body.includes(bobs.token.slice(3)), "token text in the list");
    assert.ok(!response.body.includes(createHash("sha256").update(bobs.token).digest("hex")));
    const tokens = (response.json() as { tokens: TokenBody[] }).tokens;
    assert.equal(tokens.length, 1);
    const { token: _, ...listed } = bobs;
    assert.deepEqual(tokens[0], listed);
  });

  it("revokes a token at once; another user's token is not found and stays live", async () => {
    const dave = await user("tok_dave");
    const erin = await user("tok_erin");
    await addVault("dave-vault", [
      [dave.userId, "owner"],
      [erin.userId, "viewer"],
    ]);
    const daves = await issue(dave, { scopes: [{ vault: "dave-vault", permission: "write" }] });
    const erins = await issue(erin, { scopes: [{ vault: "dave-vault", permission: "read" }] });
    assert.equal((await probe(bearer(daves.token))).statusCode, 200);

    // Dave cannot revoke Erin's token: 404, as for one that does not exist.
    const foreign = await revoke(dave, erins.id);
    assert.equal(foreign.statusCode, 404);
    assert.deepEqual(problemOf(foreign), problemOf(await revoke(dave, randomUUID())));
    assert.equal((await probe(bearer(erins.token))).statusCode, 200);
    assert.equal((await listTokens(erin))[0]?.revoked, false);

    assert.equal((await revoke(dave, daves.id)).statusCode, 204);
    assertInvalidToken(await probe(bearer(daves.token)), "revoked");
    assert.equal((await listTokens(dave))[0]?.revoked, true);
    // Revoking again changes nothing and is not an error.
    assert.equal((await revoke(dave, daves.id)).statusCode, 204);
    assert.equal((await revoke(dave, "not-a-uuid")).statusCode, 400);
  });

  it("accepts expiries of 1 to 365 days and refuses anything else", async () => {
    const frank = await user("tok_frank");
    await addVault("frank-vault", [[frank.userId, "owner"]]);
    const scopes = [{ vault: "frank-vault", permission: "read" }];
    const countBefore = await countTokens();
    for (const expiresInDays of [0, -1, 366, 1.5, "30", null, 1e9]) {
      const response = await createToken(frank, { name: "x", scopes, expiresInDays });
      assert.equal(response.statusCode, 400, `expiresInDays ${expiresInDays}`);
      assert.deepEqual(
        problemOf(response).errors?.map((e) => e.path),
        ["body.expiresInDays"],
      );
    }
    const missing = await createToken(frank, { name: "x", scopes });
    assert.equal(missing.statusCode, 400);
    assert.equal(await countTokens(), countBefore, "nothing was stored");

    for (const days of [1, 365]) {
      const created = await issue(frank, {
        scopes: [{ vault: "frank-vault", permission: "read" }],
        expiresInDays: days,
      });
      assert.equal(Date.parse(created.expiresAt) - Date.parse(created.createdAt), days * DAY_MS);
    }
  });

  it("answers a foreign vault exactly as a nonexistent one, and stores nothing", async () => {
    const grace = await user("tok_grace");
    const heidi = await createTestUser(t, { username: "tok_heidi" });
    await addVault("grace-vault", [[grace.userId, "owner"]]);
    await addVault("heidi-secret-vault", [[heidi.id, "owner"]]);
    const countBefore = await countTokens();

    const attempt = (vault: string) =>
      createToken(grace, {
        name: "probe",
        scopes: [
          { vault: "grace-vault", permission: "read" },
          { vault, permission: "read" },
        ],
        expiresInDays: 7,
      });
    const foreign = await attempt("heidi-secret-vault");
    const unknown = await attempt("no-such-vault-here");
    assert.equal(foreign.statusCode, 400);
    assert.equal(unknown.statusCode, 400);
    assert.deepEqual(problemOf(foreign).errors, [
      { path: "body.scopes.1.vault", message: "no such vault" },
    ]);
    assert.deepEqual(problemOf(foreign), problemOf(unknown));
    assert.equal(await countTokens(), countBefore);
  });

  it("refuses malformed bodies with a 400 naming the field", async () => {
    const ivan = await user("tok_ivan");
    await addVault("ivan-vault", [[ivan.userId, "owner"]]);
    const good = {
      name: "ok",
      scopes: [{ vault: "ivan-vault", permission: "read" }],
      expiresInDays: 30,
    };
    const fiftyOne = Array.from({ length: 51 }, (_, i) => ({
      vault: `v-${i}`,
      permission: "read",
    }));
    const cases: Array<[label: string, body: Record<string, unknown>, path: string]> = [
      ["extra top-level field", { ...good, userId: "someone-else" }, "body"],
      [
        "extra scope field",
        { ...good, scopes: [{ ...good.scopes[0], role: "owner" }] },
        "body.scopes.0",
      ],
      [
        "duplicate vault",
        {
          ...good,
          scopes: [
            { vault: "ivan-vault", permission: "read" },
            { vault: "ivan-vault", permission: "write" },
          ],
        },
        "body.scopes.1.vault",
      ],
      ["51 scopes", { ...good, scopes: fiftyOne }, "body.scopes"],
      ["no scopes", { ...good, scopes: [] }, "body.scopes"],
      ["scopes not a list", { ...good, scopes: { vault: "ivan-vault" } }, "body.scopes"],
      [
        "bad slug",
        { ...good, scopes: [{ vault: "../etc", permission: "read" }] },
        "body.scopes.0.vault",
      ],
      [
        "upper-case slug",
        { ...good, scopes: [{ vault: "Ivan-Vault", permission: "read" }] },
        "body.scopes.0.vault",
      ],
      [
        "unknown permission",
        { ...good, scopes: [{ vault: "ivan-vault", permission: "admin" }] },
        "body.scopes.0.permission",
      ],
      ["empty name", { ...good, name: "" }, "body.name"],
      ["blank name", { ...good, name: "   " }, "body.name"],
      ["101-character name", { ...good, name: "n".repeat(101) }, "body.name"],
      ["control character in name", { ...good, name: "a\u0000b" }, "body.name"],
      ["no name", { scopes: good.scopes, expiresInDays: 30 }, "body.name"],
    ];
    const countBefore = await countTokens();
    for (const [label, body, path] of cases) {
      const response = await createToken(ivan, body);
      assert.equal(response.statusCode, 400, `${label}: ${response.body}`);
      const paths = problemOf(response).errors?.map((e) => e.path) ?? [];
      assert.ok(paths.includes(path), `${label}: ${paths.join(", ")}`);
    }
    assert.equal(await countTokens(), countBefore, "nothing was stored");
    // The boundaries themselves are fine.
    await issue(ivan, {
      name: "n".repeat(100),
      scopes: [{ vault: "ivan-vault", permission: "read" }],
    });
  });

  it("caps the live tokens of one user", async () => {
    const judy = await user("tok_judy");
    await addVault("judy-vault", [[judy.userId, "owner"]]);
    const body = {
      name: "n",
      scopes: [{ vault: "judy-vault", permission: "read" }],
      expiresInDays: 1,
    };
    const created: string[] = [];
    for (let i = 0; i < 100; i++) {
      const response = await createToken(judy, body);
      assert.equal(response.statusCode, 201);
      created.push((response.json() as TokenBody).id);
    }
    assert.equal((await createToken(judy, body)).statusCode, 409);
    // Revoked and expired tokens do not count.
    assert.equal((await revoke(judy, created[0] ?? "")).statusCode, 204);
    assert.equal((await createToken(judy, body)).statusCode, 201);
    t.clock.advance(DAY_MS);
    assert.equal((await createToken(await signIn(t, "tok_judy"), body)).statusCode, 201);
  });
});

describe("who may manage tokens", () => {
  it("refuses anonymous callers, bearer callers and auditors, and stores nothing", async () => {
    const kim = await user("tok_kim");
    await addVault("kim-vault", [[kim.userId, "owner"]]);
    const live = await issue(kim, { scopes: [{ vault: "kim-vault", permission: "write" }] });
    const body = {
      name: "minted",
      scopes: [{ vault: "kim-vault", permission: "write" }],
      expiresInDays: 365,
    };
    const countBefore = await countTokens();

    for (const [label, headers] of [
      ["anonymous", {}],
      ["bearer token", bearer(live.token)],
      ["bearer token, lower-case scheme", { authorization: `bearer ${live.token}` }],
    ] as Array<[string, Record<string, string>]>) {
      assert.equal((await t.app.inject({ url: TOKENS_URL, headers })).statusCode, 401, label);
      const post = await t.app.inject({ method: "POST", url: TOKENS_URL, headers, payload: body });
      assert.equal(post.statusCode, 401, label);
      const del = await t.app.inject({
        method: "DELETE",
        url: `${TOKENS_URL}/${live.id}`,
        headers,
      });
      assert.equal(del.statusCode, 401, label);
    }
    // Anonymous with a malformed body: still 401, the body is not even looked at.
    const junk = await t.app.inject({ method: "POST", url: TOKENS_URL, payload: { junk: true } });
    assert.equal(junk.statusCode, 401);

    const auditor = await user("tok_auditor", "auditor");
    await addVault("audited-vault", [[auditor.userId, "owner"]]);
    const denied = await createToken(auditor, {
      ...body,
      scopes: [{ vault: "audited-vault", permission: "read" }],
    });
    assert.equal(denied.statusCode, 403);
    assert.ok(problemOf(denied).type.endsWith("#forbidden"));
    assert.equal(
      (await t.app.inject({ url: TOKENS_URL, headers: { cookie: auditor.cookie } })).statusCode,
      403,
    );

    // A browser session still needs its CSRF token.
    const noCsrf = await t.app.inject({
      method: "POST",
      url: TOKENS_URL,
      headers: { cookie: kim.cookie },
      payload: body,
    });
    assert.equal(noCsrf.statusCode, 403);

    assert.equal(await countTokens(), countBefore, "nothing was stored");
    assert.equal((await listTokens(kim))[0]?.revoked, false, "nothing was revoked");
  });

  it("lets an admin manage their own tokens", async () => {
    const admin = await user("tok_admin", "admin");
    await addVault("admin-vault", [[admin.userId, "owner"]]);
    await issue(admin, { scopes: [{ vault: "admin-vault", permission: "read" }] });
  });
});

describe("bearer authentication", () => {
  it("turns a live token into a token principal with its scopes and the owner's role", async () => {
    const lena = await user("tok_lena");
    const appId = await addVault("lena-app", [[lena.userId, "editor"]]);
    const opsId = await addVault("lena-ops", [[lena.userId, "viewer"]]);
    const created = await issue(lena, {
      scopes: [
        { vault: "lena-app", permission: "write" },
        { vault: "lena-ops", permission: "read" },
      ],
    });
    for (const scheme of ["Bearer", "bearer", "BEARER"]) {
      const response = await probe({ authorization: `${scheme} ${created.token}` });
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(response.json(), {
        principal: {
          kind: "token",
          userId: lena.userId,
          username: "tok_lena",
          role: "member",
          sessionId: null,
          tokenId: created.id,
          scopes: [
            { vaultId: appId, permission: "write" },
            { vaultId: opsId, permission: "read" },
          ],
          provenAt: null,
          mfaEnrolmentRequired: false,
        },
      });
    }
    // No Authorization header: the authenticator does not apply.
    assert.deepEqual((await probe({})).json(), { principal: null });

    // The role is the owner's current one, not the one at creation.
    await t.database.db
      .updateTable("users")
      .set({ role: "auditor" })
      .where("id", "=", lena.userId)
      .execute();
    const demoted = await probe(bearer(created.token));
    assert.equal((demoted.json() as { principal: { role: string } }).principal.role, "auditor");
  });

  it("refuses malformed, unknown and oversized credentials with a 401 problem", async () => {
    const mallory = await user("tok_mallory");
    await addVault("mallory-vault", [[mallory.userId, "owner"]]);
    const live = await issue(mallory, { scopes: [{ vault: "mallory-vault", permission: "read" }] });
    const cases: Array<[string, string]> = [
      ["sr_x", "Bearer sr_x"],
      ["scheme only", "Bearer"],
      ["scheme and space", "Bearer "],
      ["10 KB token", `Bearer sr_${"A".repeat(10 * 1024)}`],
      ["unknown token", `Bearer sr_${"A".repeat(43)}`],
      ["one character short", `Bearer ${live.token.slice(0, -1)}`],
      ["one character more", `Bearer ${live.token}A`],
      ["wrong prefix", `Bearer xx_${live.token.slice(3)}`],
      ["the hash instead", `Bearer ${createHash("sha256").update(live.token).digest("hex")}`],
      ["two tokens", `Bearer ${live.token} ${live.token}`],
    ];
    for (const [label, authorization] of cases) {
      assertInvalidToken(await probe({ authorization }), label);
    }
  });

  it("ignores other schemes (a proxy's Basic auth): the request is simply not a token's", async () => {
    const olga = await user("tok_olga");
    await addVault("olga-vault", [[olga.userId, "owner"]]);
    const live = await issue(olga, { scopes: [{ vault: "olga-vault", permission: "read" }] });
    for (const authorization of [
      `Basic ${Buffer.from("proxy:password").toString("base64")}`,
      live.token,
      "",
    ]) {
      const response = await probe({ authorization });
      assert.equal(response.statusCode, 200, authorization);
      assert.equal(
        (response.json() as { principal: unknown }).principal,
        null,
        "no token principal",
      );
    }
    // A browser behind such a proxy still works with its session.
    const withBasic = await t.app.inject({
      url: "/api/v1/me",
      headers: { cookie: olga.cookie, authorization: "Basic cHJveHk6cGFzcw==" },
    });
    assert.equal(withBasic.statusCode, 200);
  });

  it("never falls back to the session cookie when the bearer token is bad", async () => {
    const nina = await user("tok_nina");
    await addVault("nina-vault", [[nina.userId, "owner"]]);
    const created = await issue(nina, { scopes: [{ vault: "nina-vault", permission: "read" }] });
    assert.equal((await revoke(nina, created.id)).statusCode, 204);
    const withCookie = await t.app.inject({
      url: TOKENS_URL,
      headers: { cookie: nina.cookie, ...bearer(created.token) },
    });
    assertInvalidToken(withCookie, "revoked token with a valid cookie");
    const garbage = await t.app.inject({
      method: "POST",
      url: TOKENS_URL,
      headers: { ...asSession(nina), authorization: "Bearer sr_x" },
      payload: {
        name: "n",
        scopes: [{ vault: "nina-vault", permission: "read" }],
        expiresInDays: 1,
      },
    });
    assertInvalidToken(garbage, "malformed token with a valid session and CSRF token");
    assert.equal((await listTokens(nina)).length, 1, "nothing was created");
  });

  it("refuses a token once it expires", async () => {
    const oscar = await user("tok_oscar");
    await addVault("oscar-vault", [[oscar.userId, "owner"]]);
    const created = await issue(oscar, {
      scopes: [{ vault: "oscar-vault", permission: "read" }],
      expiresInDays: 1,
    });
    t.clock.advance(DAY_MS - 60_000);
    assert.equal((await probe(bearer(created.token))).statusCode, 200, "a minute before expiry");
    t.clock.advance(60_000);
    assertInvalidToken(await probe(bearer(created.token)), "at expiry");
  });

  it("refuses the tokens of a disabled owner, and revokeAllUserTokens ends them all", async () => {
    const peggy = await user("tok_peggy");
    await addVault("peggy-vault", [[peggy.userId, "owner"]]);
    const first = await issue(peggy, { scopes: [{ vault: "peggy-vault", permission: "read" }] });
    const second = await issue(peggy, { scopes: [{ vault: "peggy-vault", permission: "write" }] });

    await t.database.db
      .updateTable("users")
      .set({ disabled_at: t.clock.now().toISOString() })
      .where("id", "=", peggy.userId)
      .execute();
    assertInvalidToken(await probe(bearer(first.token)), "disabled owner");
    await t.database.db
      .updateTable("users")
      .set({ disabled_at: null })
      .where("id", "=", peggy.userId)
      .execute();
    assert.equal((await probe(bearer(first.token))).statusCode, 200, "enabled again");

    assert.equal(await revokeAllUserTokens(t.database.db, peggy.userId, t.clock.now()), 2);
    assertInvalidToken(await probe(bearer(first.token)), "after revoke-all (first)");
    assertInvalidToken(await probe(bearer(second.token)), "after revoke-all (second)");
    assert.equal(await revokeAllUserTokens(t.database.db, peggy.userId, t.clock.now()), 0);
  });

  it("records the last use, at most once a minute", async () => {
    const quinn = await user("tok_quinn");
    await addVault("quinn-vault", [[quinn.userId, "owner"]]);
    const created = await issue(quinn, { scopes: [{ vault: "quinn-vault", permission: "read" }] });
    const lastUsed = async () => (await listTokens(quinn))[0]?.lastUsedAt ?? null;

    assert.equal(await lastUsed(), null);
    await probe(bearer(created.token));
    const first = await lastUsed();
    assert.ok(first !== null);
    t.clock.advance(30_000);
    await probe(bearer(created.token));
    assert.equal(await lastUsed(), first, "not rewritten within the minute");
    t.clock.advance(30_000);
    await probe(bearer(created.token));
    assert.ok(Date.parse((await lastUsed()) ?? "") >= Date.parse(first) + 60_000);
  });
});

describe("token audit events", () => {
  it("records creation and revocation, never the token text or hash", async () => {
    const rita = await user("tok_rita");
    await addVault("rita-vault", [[rita.userId, "owner"]]);
    const created = await issue(rita, {
      name: "audited token",
      scopes: [{ vault: "rita-vault", permission: "write" }],
    });
    assert.equal((await revoke(rita, created.id)).statusCode, 204);

    const events = await t.database.db
      .selectFrom("audit_events")
      .selectAll()
      .where("actor_id", "=", rita.userId)
      .where("action", "like", "token.%")
      .orderBy("seq")
      .execute();
    assert.deepEqual(
      events.map((e) => [e.action, e.target, e.outcome, e.actor_name]),
      [
        ["token.create", `token:${created.id}`, "success", "tok_rita"],
        ["token.revoke", `token:${created.id}`, "success", "tok_rita"],
      ],
    );
    assert.deepEqual(JSON.parse(events[0]?.details ?? "null"), {
      name: "audited token",
      scopes: "rita-vault:write",
      expiresAt: created.expiresAt,
    });

    const everything = JSON.stringify(
      await t.database.db.selectFrom("audit_events").selectAll().execute(),
    );
    assert.ok(!everything.includes(created.token.slice(3)), "token text in the audit log");
    assert.ok(!everything.includes(createHash("sha256").update(created.token).digest("hex")));
    // Nor in the logs.
    assert.ok(!t.logs.join("\n").includes(created.token.slice(3)), "token text in the logs");
  });
});

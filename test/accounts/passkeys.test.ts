/**
 * Passkeys through the API, with a software authenticator (test/helpers/webauthn.ts) making
 * real credentials and signatures: adding, listing and removing them; signing in with one
 * alone; using one as the second factor; and every way an answer must be refused —
 * replayed, expired or foreign challenges, another origin or RP ID, no user verification, a
 * counter that went backwards (a cloned authenticator), someone else's passkey.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import {
  asSession,
  createTestUser,
  GOOD_PASSWORD,
  type SignedIn,
  sessionCookieFrom,
  signIn,
} from "../helpers/accounts.js";
import { createTestApp, type TestApp } from "../helpers/app.js";
import { SoftAuthenticator } from "../helpers/webauthn.js";

const PUBLIC_URL = "https://vault.example.test";
const RP_ID = "vault.example.test";

let t: TestApp;

before(async () => {
  t = await createTestApp({ env: { PUBLIC_URL } });
});
after(async () => {
  await t.close();
});

/** An answer's JSON, read loosely: the assertions say what each field must be. */
// biome-ignore lint/suspicious/noExplicitAny: the tests check shapes with assertions
const json = (response: LightMyRequestResponse) => JSON.parse(response.body) as Record<string, any>;

async function addPasskey(
  session: SignedIn,
  authenticator: SoftAuthenticator,
  name = "laptop",
  overrides = {},
): Promise<LightMyRequestResponse> {
  const started = await t.app.inject({
    method: "POST",
    url: "/api/v1/me/passkeys/options",
    headers: asSession(session),
  });
  assert.equal(started.statusCode, 200, started.body);
  const { challengeId, options } = json(started);
  return t.app.inject({
    method: "POST",
    url: "/api/v1/me/passkeys",
    headers: asSession(session),
    payload: { challengeId, name, response: authenticator.register(options, overrides) },
  });
}

async function passkeyOptions(): Promise<{ challengeId: string; options: { challenge: string } }> {
  const response = await t.app.inject({
    method: "POST",
    url: "/api/v1/auth/passkey/options",
    headers: { origin: PUBLIC_URL },
  });
  assert.equal(response.statusCode, 200, response.body);
  return json(response) as never;
}

function passkeySignIn(body: unknown): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: "POST",
    url: "/api/v1/auth/passkey/login",
    headers: { origin: PUBLIC_URL },
    payload: body as Record<string, unknown>,
  });
}

async function auditActions(
  username: string,
): Promise<Array<{ action: string; outcome: string; details: string | null }>> {
  return t.database.db
    .selectFrom("audit_events")
    .select(["action", "outcome", "details"])
    .where("actor_name", "=", username)
    .orderBy("seq")
    .execute() as never;
}

describe("adding, listing and removing passkeys", () => {
  it("stores a verified passkey, lists it, and audits the change", async () => {
    await createTestUser(t, { username: "pk_adder" });
    const session = await signIn(t, "pk_adder");
    const authenticator = new SoftAuthenticator(RP_ID, PUBLIC_URL);
    const added = await addPasskey(session, authenticator, "  work laptop  ");
    assert.equal(added.statusCode, 201, added.body);
    assert.equal(json(added).passkey.name, "work laptop");
    assert.equal(json(added).passkey.id, authenticator.credentialIds()[0]);

    const listed = await t.app.inject({
      method: "GET",
      url: "/api/v1/me/passkeys",
      headers: asSession(session),
    });
    assert.deepEqual(
      json(listed).passkeys.map((p: { name: string }) => p.name),
      ["work laptop"],
    );
    const row = await t.database.db
      .selectFrom("users")
      .select("passkey_enabled_at")
      .where("username", "=", "pk_adder")
      .executeTakeFirstOrThrow();
    assert.notEqual(row.passkey_enabled_at, null);
    const me = await t.app.inject({
      method: "GET",
      url: "/api/v1/me",
      headers: asSession(session),
    });
    assert.equal(json(me).user.passkeyEnabled, true, "the profile says so");
    assert.equal(json(me).user.mfaEnabled, false, "TOTP is still off");
    assert.ok((await auditActions("pk_adder")).some((e) => e.action === "passkey.add"));

    // The same authenticator is excluded from the next registration, and refused if it tries.
    const again = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/passkeys/options",
      headers: asSession(session),
    });
    assert.deepEqual(
      json(again).options.excludeCredentials.map((c: { id: string }) => c.id),
      authenticator.credentialIds(),
    );
  });

  it("refuses answers for another origin, RP ID or challenge, or without user verification; nothing is stored", async () => {
    await createTestUser(t, { username: "pk_refused" });
    const session = await signIn(t, "pk_refused");
    for (const overrides of [
      { origin: "https://evil.example.test" },
      { rpId: "evil.example.test" },
      { challenge: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" },
      { userVerified: false },
    ]) {
      const response = await addPasskey(
        session,
        new SoftAuthenticator(RP_ID, PUBLIC_URL),
        "x",
        overrides,
      );
      assert.equal(response.statusCode, 400, JSON.stringify(overrides));
      assert.match(json(response).type, /passkey-rejected$/);
    }
    const listed = await t.app.inject({
      method: "GET",
      url: "/api/v1/me/passkeys",
      headers: asSession(session),
    });
    assert.deepEqual(json(listed).passkeys, []);
  });

  it("uses a registration challenge once, only for its own user, and only within five minutes", async () => {
    await createTestUser(t, { username: "pk_chal_a" });
    await createTestUser(t, { username: "pk_chal_b" });
    const a = await signIn(t, "pk_chal_a");
    const b = await signIn(t, "pk_chal_b");
    const started = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/passkeys/options",
      headers: asSession(a),
    });
    const { challengeId, options } = json(started);
    const authenticator = new SoftAuthenticator(RP_ID, PUBLIC_URL);
    const stolen = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/passkeys",
      headers: asSession(b),
      payload: { challengeId, name: "x", response: authenticator.register(options) },
    });
    assert.equal(stolen.statusCode, 400, "another user's challenge");
    // Taken by the failed attempt: gone for its owner too.
    const reused = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/passkeys",
      headers: asSession(a),
      payload: { challengeId, name: "x", response: authenticator.register(options) },
    });
    assert.equal(reused.statusCode, 400, "a used challenge");

    const fresh = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/passkeys/options",
      headers: asSession(a),
    });
    t.clock.advance(5 * 60_000 + 1);
    const late = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/passkeys",
      headers: asSession(a),
      payload: {
        challengeId: json(fresh).challengeId,
        name: "x",
        response: authenticator.register(json(fresh).options),
      },
    });
    assert.equal(late.statusCode, 400, "an expired challenge");
  });

  it("removes only the caller's own passkeys", async () => {
    await createTestUser(t, { username: "pk_owner" });
    await createTestUser(t, { username: "pk_other" });
    const owner = await signIn(t, "pk_owner");
    const other = await signIn(t, "pk_other");
    const authenticator = new SoftAuthenticator(RP_ID, PUBLIC_URL);
    assert.equal((await addPasskey(owner, authenticator)).statusCode, 201);
    const id = authenticator.credentialIds()[0] ?? "";
    const foreign = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/me/passkeys/${id}`,
      headers: asSession(other),
    });
    assert.equal(foreign.statusCode, 404);
    const removed = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/me/passkeys/${id}`,
      headers: asSession(owner),
    });
    assert.equal(removed.statusCode, 204);
    const row = await t.database.db
      .selectFrom("users")
      .select("passkey_enabled_at")
      .where("username", "=", "pk_owner")
      .executeTakeFirstOrThrow();
    assert.equal(row.passkey_enabled_at, null, "no passkey left: no second factor");
    assert.ok((await auditActions("pk_owner")).some((e) => e.action === "passkey.remove"));
    // Gone for sign-in too.
    const { challengeId, options } = await passkeyOptions();
    const refused = await passkeySignIn({
      challengeId,
      response: authenticator.assert(options, id),
    });
    assert.equal(refused.statusCode, 401);
  });
});

describe("signing in with a passkey alone", () => {
  let authenticator: SoftAuthenticator;
  before(async () => {
    await createTestUser(t, { username: "pk_signer" });
    const session = await signIn(t, "pk_signer");
    authenticator = new SoftAuthenticator(RP_ID, PUBLIC_URL);
    assert.equal((await addPasskey(session, authenticator)).statusCode, 201);
  });

  it("starts a session that works, and audits the sign-in as a passkey one", async () => {
    const { challengeId, options } = await passkeyOptions();
    assert.deepEqual(
      (options as { allowCredentials?: unknown[] }).allowCredentials ?? [],
      [],
      "discoverable: no list of ids",
    );
    const response = await passkeySignIn({ challengeId, response: authenticator.assert(options) });
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(json(response).user.username, "pk_signer");
    const cookie = sessionCookieFrom(response);
    assert.ok(cookie);
    const me = await t.app.inject({ method: "GET", url: "/api/v1/me", headers: { cookie } });
    assert.equal(me.statusCode, 200);
    const events = await auditActions("pk_signer");
    const last = events.filter((e) => e.action === "login.success").at(-1);
    assert.match(String(last?.details), /passkey/);
  });

  it("refuses a replayed answer, an expired challenge, another origin and no user verification with the same 401", async () => {
    const first = await passkeyOptions();
    const answer = authenticator.assert(first.options);
    assert.equal(
      (await passkeySignIn({ challengeId: first.challengeId, response: answer })).statusCode,
      200,
    );
    const replayed = await passkeySignIn({ challengeId: first.challengeId, response: answer });
    assert.equal(replayed.statusCode, 401);
    assert.match(json(replayed).type, /invalid-credentials$/);

    const late = await passkeyOptions();
    t.clock.advance(5 * 60_000 + 1);
    assert.equal(
      (
        await passkeySignIn({
          challengeId: late.challengeId,
          response: authenticator.assert(late.options),
        })
      ).statusCode,
      401,
    );

    for (const overrides of [
      { origin: "https://evil.example.test" },
      { rpId: "evil.example.test" },
      { userVerified: false },
    ]) {
      const { challengeId, options } = await passkeyOptions();
      const response = await passkeySignIn({
        challengeId,
        response: authenticator.assert(options, undefined, overrides),
      });
      assert.equal(response.statusCode, 401, JSON.stringify(overrides));
      assert.equal(sessionCookieFrom(response), null);
    }
  });

  it("refuses a counter that did not move forward (a cloned authenticator) and logs it", async () => {
    const ok = await passkeyOptions();
    assert.equal(
      (
        await passkeySignIn({
          challengeId: ok.challengeId,
          response: authenticator.assert(ok.options, undefined, { counter: 100 }),
        })
      ).statusCode,
      200,
    );
    const cloned = await passkeyOptions();
    const response = await passkeySignIn({
      challengeId: cloned.challengeId,
      response: authenticator.assert(cloned.options, undefined, { counter: 100 }),
    });
    assert.equal(response.statusCode, 401);
    const line = t.logs.find((entry) => entry.includes('"security.passkey_counter"'));
    assert.ok(line !== undefined, "the possible clone is logged");
    // Like every security event: the request's own fields, the account and the passkey.
    const event = JSON.parse(line) as Record<string, unknown>;
    assert.equal(event.level, 40);
    assert.equal(event.msg, "passkey counter did not advance: possible cloned authenticator");
    for (const field of ["address", "method", "url", "reqId", "userId", "authenticatorId"])
      assert.ok(typeof event[field] === "string" && event[field] !== "", `${field}: ${line}`);
    assert.notEqual(event.authenticatorId, "[redacted]");
  });

  it("refuses a disabled user's passkey", async () => {
    await t.database.db
      .updateTable("users")
      .set({ disabled_at: t.clock.now().toISOString() })
      .where("username", "=", "pk_signer")
      .execute();
    try {
      const { challengeId, options } = await passkeyOptions();
      assert.equal(
        (await passkeySignIn({ challengeId, response: authenticator.assert(options) })).statusCode,
        401,
      );
    } finally {
      await t.database.db
        .updateTable("users")
        .set({ disabled_at: null })
        .where("username", "=", "pk_signer")
        .execute();
    }
  });

  it("refuses malformed answers with 400 and unknown credentials with 401", async () => {
    const { challengeId } = await passkeyOptions();
    assert.equal((await passkeySignIn({ challengeId, response: { id: "x" } })).statusCode, 400);
    assert.equal(
      (await passkeySignIn({ challengeId: "not-a-uuid", response: {} })).statusCode,
      400,
    );
    const stranger = new SoftAuthenticator(RP_ID, PUBLIC_URL);
    stranger.register({ challenge: "AA", user: { id: "AA" } });
    const fresh = await passkeyOptions();
    assert.equal(
      (
        await passkeySignIn({
          challengeId: fresh.challengeId,
          response: stranger.assert(fresh.options),
        })
      ).statusCode,
      401,
    );
  });
});

describe("a passkey as the second factor", () => {
  let authenticator: SoftAuthenticator;
  before(async () => {
    await createTestUser(t, { username: "pk_second" });
    const session = await signIn(t, "pk_second");
    authenticator = new SoftAuthenticator(RP_ID, PUBLIC_URL);
    assert.equal((await addPasskey(session, authenticator)).statusCode, 201);
  });

  const passwordSignIn = (payload: Record<string, unknown>) =>
    t.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      headers: { origin: PUBLIC_URL },
      payload,
    });

  it("is required after the password once a passkey exists", async () => {
    const response = await passwordSignIn({ username: "pk_second", password: GOOD_PASSWORD });
    assert.equal(response.statusCode, 401);
    assert.match(json(response).type, /mfa-required$/);
    assert.equal(sessionCookieFrom(response), null);
    // A TOTP code cannot stand in: this user has none.
    const code = await passwordSignIn({
      username: "pk_second",
      password: GOOD_PASSWORD,
      totp: "123456",
    });
    assert.match(json(code).type, /mfa-required$/);
  });

  it("completes the sign-in with the password and the user's own passkey", async () => {
    const { challengeId, options } = await passkeyOptions();
    const response = await passwordSignIn({
      username: "pk_second",
      password: GOOD_PASSWORD,
      passkey: { challengeId, response: authenticator.assert(options) },
    });
    assert.equal(response.statusCode, 200, response.body);
    assert.ok(sessionCookieFrom(response));
  });

  it("does not take another user's passkey, nor a passkey with a wrong password", async () => {
    await createTestUser(t, { username: "pk_mallory" });
    const mallory = await signIn(t, "pk_mallory");
    const own = new SoftAuthenticator(RP_ID, PUBLIC_URL);
    assert.equal((await addPasskey(mallory, own)).statusCode, 201);
    const { challengeId, options } = await passkeyOptions();
    const foreign = await passwordSignIn({
      username: "pk_second",
      password: GOOD_PASSWORD,
      passkey: { challengeId, response: own.assert(options) },
    });
    assert.equal(foreign.statusCode, 401);
    assert.match(json(foreign).type, /mfa-required$/);

    const next = await passkeyOptions();
    const wrong = await passwordSignIn({
      username: "pk_second",
      password: "not-the-password-at-all-1",
      passkey: { challengeId: next.challengeId, response: authenticator.assert(next.options) },
    });
    assert.equal(wrong.statusCode, 401);
    assert.match(json(wrong).type, /invalid-credentials$/);
  });
});

describe("adding a passkey needs a recent proof", () => {
  it("answers reauth-required once REAUTH_MINUTES have passed since the password", async () => {
    await createTestUser(t, { username: "pk_stale" });
    const session = await signIn(t, "pk_stale");
    t.clock.advance(11 * 60_000);
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/passkeys/options",
      headers: asSession(session),
    });
    assert.equal(response.statusCode, 401);
    assert.match(json(response).type, /reauth-required$/);
  });
});

describe("a passkey as the recent proof for step-up", () => {
  it("renews the proof with the user's own passkey, never another's, and audits each try", async () => {
    await createTestUser(t, { username: "pk_stepper" });
    await createTestUser(t, { username: "pk_stranger" });
    const session = await signIn(t, "pk_stepper");
    const stranger = await signIn(t, "pk_stranger");
    const own = new SoftAuthenticator(RP_ID, PUBLIC_URL);
    const foreign = new SoftAuthenticator(RP_ID, PUBLIC_URL);
    assert.equal((await addPasskey(session, own)).statusCode, 201);
    assert.equal((await addPasskey(stranger, foreign)).statusCode, 201);
    t.clock.advance(11 * 60_000);
    const stale = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/passkeys/options",
      headers: asSession(session),
    });
    assert.match(json(stale).type, /reauth-required$/);

    const reauth = async (authenticator: SoftAuthenticator) => {
      const { challengeId, options } = await passkeyOptions();
      return t.app.inject({
        method: "POST",
        url: "/api/v1/auth/reauth",
        headers: asSession(session),
        payload: { passkey: { challengeId, response: authenticator.assert(options) } },
      });
    };
    const refused = await reauth(foreign);
    assert.equal(refused.statusCode, 401, "another user's passkey proves nothing");
    const proven = await reauth(own);
    assert.equal(proven.statusCode, 200, proven.body);
    const fresh = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/passkeys/options",
      headers: asSession(session),
    });
    assert.equal(fresh.statusCode, 200, "the proof is recent again");
    const events = (await auditActions("pk_stepper")).filter((e) => e.action === "session.reauth");
    assert.deepEqual(
      events.map((e) => e.outcome),
      ["failure", "success"],
    );
    assert.ok(events.every((e) => String(e.details).includes("passkey")));
  });
});

describe("passkey sign-in challenges", () => {
  it("are bounded per address: each is a row until it expires, and anyone may ask", async () => {
    const ask = (remoteAddress: string) =>
      t.app.inject({
        method: "POST",
        url: "/api/v1/auth/passkey/options",
        headers: { origin: PUBLIC_URL },
        remoteAddress,
      });
    const count = async () =>
      Number(
        (
          await t.database.db
            .selectFrom("webauthn_challenges")
            .select((eb) => eb.fn.countAll<number | string>().as("n"))
            .executeTakeFirstOrThrow()
        ).n,
      );
    for (let i = 0; i < 60; i++) assert.equal((await ask("203.0.113.9")).statusCode, 200);
    const stored = await count();
    const refused = await ask("203.0.113.9");
    assert.equal(refused.statusCode, 429);
    assert.ok(Number(refused.headers["retry-after"]) > 0);
    assert.equal(await count(), stored, "the refused request stored nothing");
    assert.equal((await ask("203.0.113.10")).statusCode, 200, "another address is not affected");
  });
});

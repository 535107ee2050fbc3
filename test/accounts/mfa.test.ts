import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { generateTotpCode } from "../../src/accounts/totp.js";
import type { SignedIn } from "../helpers/accounts.js";
import {
  asSession,
  createTestUser,
  GOOD_PASSWORD,
  sessionCookieFrom,
  signIn,
} from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
before(async () => {
  t = await createTestApp();
});
after(async () => {
  await t.close();
});

const login = (payload: Record<string, unknown>) =>
  t.app.inject({ method: "POST", url: "/api/v1/auth/login", payload });

async function enrol(
  session: SignedIn,
): Promise<{ secret: string; recoveryCodes: string[]; session: SignedIn }> {
  const start = await t.app.inject({
    method: "POST",
    url: "/api/v1/me/mfa/totp",
    headers: asSession(session),
  });
  assert.equal(start.statusCode, 200, start.body);
  const { secret, otpauthUrl, qrCode } = JSON.parse(start.body);
  assert.match(otpauthUrl, /^otpauth:\/\/totp\//);
  assert.match(qrCode, /^data:image\/svg\+xml;base64,/);
  const wrong = await t.app.inject({
    method: "POST",
    url: "/api/v1/me/mfa/totp/confirm",
    headers: asSession(session),
    payload: { code: "000000" },
  });
  assert.equal(wrong.statusCode, 401);
  const confirm = await t.app.inject({
    method: "POST",
    url: "/api/v1/me/mfa/totp/confirm",
    headers: asSession(session),
    payload: { code: generateTotpCode(secret, t.clock.now().getTime()) },
  });
  assert.equal(confirm.statusCode, 200, confirm.body);
  const body = JSON.parse(confirm.body);
  const cookie = sessionCookieFrom(confirm);
  assert.ok(
    cookie && cookie !== session.cookie,
    "the session is replaced at two-factor completion",
  );
  return {
    secret,
    recoveryCodes: body.recoveryCodes,
    session: { cookie, csrfToken: body.csrfToken, userId: session.userId },
  };
}

describe("two-factor authentication", () => {
  it("enrols, stores the secret encrypted, and then requires a code at sign-in", async () => {
    const user = await createTestUser(t, { username: "mfa_user" });
    const { secret, recoveryCodes } = await enrol(await signIn(t, "mfa_user"));
    assert.equal(recoveryCodes.length, 10);
    assert.equal(new Set(recoveryCodes).size, 10);
    const row = await t.database.db
      .selectFrom("users")
      .select(["totp_secret", "totp_enabled_at"])
      .where("id", "=", user.id)
      .executeTakeFirstOrThrow();
    assert.ok(row.totp_enabled_at);
    assert.ok(
      row.totp_secret && !row.totp_secret.toString("latin1").includes(secret),
      "not stored in the clear",
    );
    const codes = await t.database.db
      .selectFrom("recovery_codes")
      .select("code_hash")
      .where("user_id", "=", user.id)
      .execute();
    assert.equal(codes.length, 10);
    assert.ok(
      codes.every((c) => !recoveryCodes.includes(c.code_hash)),
      "recovery codes stored hashed",
    );

    const missing = await login({ username: "mfa_user", password: GOOD_PASSWORD });
    assert.equal(missing.statusCode, 401);
    assert.match(JSON.parse(missing.body).type, /mfa-required$/);
    assert.equal(sessionCookieFrom(missing), null);

    t.clock.advance(60_000);
    const code = generateTotpCode(secret, t.clock.now().getTime());
    assert.equal(
      (await login({ username: "mfa_user", password: GOOD_PASSWORD, totp: code })).statusCode,
      200,
    );
    const replay = await login({ username: "mfa_user", password: GOOD_PASSWORD, totp: code });
    assert.equal(replay.statusCode, 401, "a code works once");
    assert.match(JSON.parse(replay.body).type, /mfa-required$/);
    const wrongPassword = await login({
      username: "mfa_user",
      password: "wrong-password-but-code",
      totp: generateTotpCode(secret, t.clock.now().getTime() + 30_000),
    });
    assert.equal(wrongPassword.statusCode, 401);
    assert.match(JSON.parse(wrongPassword.body).type, /invalid-credentials$/);
  });

  it("accepts each recovery code once", async () => {
    await createTestUser(t, { username: "recover_me" });
    const { recoveryCodes } = await enrol(await signIn(t, "recover_me"));
    const code = recoveryCodes[0] ?? "";
    assert.equal(
      (await login({ username: "recover_me", password: GOOD_PASSWORD, totp: code })).statusCode,
      200,
    );
    const again = await login({ username: "recover_me", password: GOOD_PASSWORD, totp: code });
    assert.equal(again.statusCode, 401, "a used recovery code is spent");
    assert.equal(
      (
        await login({
          username: "recover_me",
          password: GOOD_PASSWORD,
          totp: (recoveryCodes[1] ?? "").toUpperCase(),
        })
      ).statusCode,
      200,
    );
  });

  it("issues 120-bit codes in six groups, and still redeems a stored 80-bit code once", async () => {
    const user = await createTestUser(t, { username: "legacy_codes" });
    const { recoveryCodes } = await enrol(await signIn(t, "legacy_codes"));
    for (const code of recoveryCodes)
      assert.match(code, /^[0-9a-hjkmnp-tv-z]{4}(-[0-9a-hjkmnp-tv-z]{4}){5}$/, "24 characters");
    // A code issued before 120 bits, stored as it was then: SHA-256 of its 16 characters.
    const legacy = "7k2m-9xq4-hr0t-v1zb";
    await t.database.db
      .insertInto("recovery_codes")
      .values({
        id: randomUUID(),
        user_id: user.id,
        code_hash: createHash("sha256").update("7k2m9xq4hr0tv1zb").digest("hex"),
        used_at: null,
        created_at: t.clock.now().toISOString(),
      })
      .execute();
    const typed = "7K2M 9XQ4 HROT VIZB"; // as people type it
    const redeemed = await login({
      username: "legacy_codes",
      password: GOOD_PASSWORD,
      totp: typed,
    });
    assert.equal(redeemed.statusCode, 200, redeemed.body);
    const again = await login({ username: "legacy_codes", password: GOOD_PASSWORD, totp: legacy });
    assert.equal(again.statusCode, 401, "spent like any other code");
    assert.match(JSON.parse(again.body).type, /mfa-required$/);
  });

  it("is removed only with the password", async () => {
    await createTestUser(t, { username: "mfa_off" });
    const { session } = await enrol(await signIn(t, "mfa_off"));
    const wrong = await t.app.inject({
      method: "DELETE",
      url: "/api/v1/me/mfa/totp",
      headers: asSession(session),
      payload: { password: "not-the-password-99" },
    });
    assert.equal(wrong.statusCode, 401);
    const right = await t.app.inject({
      method: "DELETE",
      url: "/api/v1/me/mfa/totp",
      headers: asSession(session),
      payload: { password: GOOD_PASSWORD },
    });
    assert.equal(right.statusCode, 204);
    assert.equal((await login({ username: "mfa_off", password: GOOD_PASSWORD })).statusCode, 200);
    const events = await t.database.db
      .selectFrom("audit_events")
      .select(["action", "outcome"])
      .where("target", "=", "mfa_off")
      .execute();
    assert.ok(events.some((e) => e.action === "mfa.enable" && e.outcome === "success"));
    assert.ok(events.some((e) => e.action === "mfa.disable"));
  });

  it("cannot start a second enrolment while on", async () => {
    await createTestUser(t, { username: "mfa_twice" });
    const { session } = await enrol(await signIn(t, "mfa_twice"));
    assert.equal(
      (
        await t.app.inject({
          method: "POST",
          url: "/api/v1/me/mfa/totp",
          headers: asSession(session),
        })
      ).statusCode,
      409,
    );
  });
});

describe("TOTP_DRIFT_STEPS=0", () => {
  let strict: TestApp;
  before(async () => {
    strict = await createTestApp({ env: { TOTP_DRIFT_STEPS: "0" } });
  });
  after(async () => {
    await strict.close();
  });

  it("accepts a code only in its own 30-second step, at enrolment and at sign-in", async () => {
    await createTestUser(strict, { username: "strict_totp" });
    const session = await signIn(strict, "strict_totp");
    const start = await strict.app.inject({
      method: "POST",
      url: "/api/v1/me/mfa/totp",
      headers: asSession(session),
    });
    assert.equal(start.statusCode, 200, start.body);
    const { secret } = JSON.parse(start.body) as { secret: string };
    const at = (offsetSteps: number) =>
      generateTotpCode(secret, strict.clock.now().getTime() + offsetSteps * 30_000);
    const confirm = (code: string) =>
      strict.app.inject({
        method: "POST",
        url: "/api/v1/me/mfa/totp/confirm",
        headers: asSession(session),
        payload: { code },
      });
    if (at(-1) !== at(0))
      assert.equal((await confirm(at(-1))).statusCode, 401, "last step's code is refused");
    assert.equal((await confirm(at(0))).statusCode, 200);

    strict.clock.advance(60_000);
    const signInWith = (totp: string) =>
      strict.app.inject({
        method: "POST",
        url: "/api/v1/auth/login",
        payload: { username: "strict_totp", password: GOOD_PASSWORD, totp },
      });
    for (const offset of [-1, 1]) {
      if (at(offset) === at(0)) continue;
      const refused = await signInWith(at(offset));
      assert.equal(refused.statusCode, 401, `a code ${offset} step(s) away`);
      assert.match(JSON.parse(refused.body).type, /mfa-required$/);
    }
    assert.equal((await signInWith(at(0))).statusCode, 200, "the current step's code");
  });
});

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { SMTPServer } from "smtp-server";
import { generateTotpCode } from "../../src/accounts/totp.js";
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

const request = (email: string) =>
  t.app.inject({ method: "POST", url: "/api/v1/auth/password-reset", payload: { email } });
const confirm = (token: string, password: string) =>
  t.app.inject({
    method: "POST",
    url: "/api/v1/auth/password-reset/confirm",
    payload: { token, password },
  });
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};
const tokenIn = (text: string): string => /token=([A-Za-z0-9_-]+)/.exec(text)?.[1] ?? "";

describe("password reset", () => {
  it("answers 202 the same way for known and unknown addresses", async () => {
    await createTestUser(t, { username: "resetter", email: "resetter@example.test" });
    const before = t.mail.length;
    const known = await request("resetter@example.test");
    const unknown = await request("nobody@example.test");
    assert.equal(known.statusCode, 202);
    assert.equal(unknown.statusCode, 202);
    assert.equal(known.body, unknown.body);
    await settle();
    assert.equal(t.mail.length, before + 1, "only the real account gets mail");
  });

  it("resets once, ends every session, and refuses the link again", async () => {
    await createTestUser(t, { username: "forgetful", email: "forgetful@example.test" });
    const session = await signIn(t, "forgetful");
    await request("forgetful@example.test");
    await settle();
    const token = tokenIn(t.mail.at(-1)?.text ?? "");
    assert.equal(token.length, 43, "256-bit token");
    const stored = await t.database.db
      .selectFrom("password_reset_tokens")
      .select("token_hash")
      .execute();
    assert.ok(
      stored.every((row) => row.token_hash !== token),
      "stored hashed",
    );

    assert.equal((await confirm(token, "short")).statusCode, 400, "policy applies");
    const done = await confirm(token, "a-fresh-reset-passphrase-42");
    assert.equal(done.statusCode, 204, done.body);
    assert.equal(
      (await t.app.inject({ url: "/api/v1/me", headers: { cookie: session.cookie } })).statusCode,
      401,
      "sessions ended",
    );
    await signIn(t, "forgetful", "a-fresh-reset-passphrase-42");
    const reused = await confirm(token, "yet-another-passphrase-43");
    assert.equal(reused.statusCode, 400);
    assert.match(JSON.parse(reused.body).type, /invalid-token$/);
    await signIn(t, "forgetful", "a-fresh-reset-passphrase-42");
  });

  it("refuses an expired link and a forged one", async () => {
    await createTestUser(t, { username: "slowpoke", email: "slow@example.test" });
    await request("slow@example.test");
    await settle();
    const token = tokenIn(t.mail.at(-1)?.text ?? "");
    t.clock.advance(31 * 60_000);
    assert.equal((await confirm(token, "a-fresh-reset-passphrase-44")).statusCode, 400);
    assert.equal(
      (await confirm(randomBytes(32).toString("base64url"), "a-fresh-reset-passphrase-44"))
        .statusCode,
      400,
    );
    await signIn(t, "slowpoke", GOOD_PASSWORD);
  });

  it("does not bypass two-factor: TOTP stays on and the next sign-in still asks for a code", async () => {
    const user = await createTestUser(t, {
      username: "two_factor_reset",
      email: "tfr@example.test",
    });
    const session = await signIn(t, "two_factor_reset");
    const start = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/mfa/totp",
      headers: asSession(session),
    });
    assert.equal(start.statusCode, 200, start.body);
    const { secret } = JSON.parse(start.body) as { secret: string };
    const enrolled = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/mfa/totp/confirm",
      headers: asSession(session),
      payload: { code: generateTotpCode(secret, t.clock.now().getTime()) },
    });
    assert.equal(enrolled.statusCode, 200, enrolled.body);
    const twoFactorState = () =>
      t.database.db
        .selectFrom("users")
        .select(["totp_secret", "totp_enabled_at"])
        .where("id", "=", user.id)
        .executeTakeFirstOrThrow();
    const before = await twoFactorState();
    assert.ok(before.totp_enabled_at);
    const recoveryCodes = async () =>
      (
        await t.database.db
          .selectFrom("recovery_codes")
          .select("code_hash")
          .where("user_id", "=", user.id)
          .where("used_at", "is", null)
          .execute()
      ).length;
    assert.equal(await recoveryCodes(), 10);

    await request("tfr@example.test");
    await settle();
    const token = tokenIn(t.mail.at(-1)?.text ?? "");
    const NEW_PASSWORD = "a-reset-that-keeps-totp-77";
    const done = await confirm(token, NEW_PASSWORD);
    assert.equal(done.statusCode, 204, done.body);
    assert.equal(sessionCookieFrom(done), null, "the reset signs nobody in");

    const after = await twoFactorState();
    assert.ok(after.totp_enabled_at, "TOTP is still enabled");
    assert.deepEqual(after.totp_secret, before.totp_secret, "with the same secret");
    assert.equal(await recoveryCodes(), 10, "and the same recovery codes");

    const login = (payload: Record<string, unknown>) =>
      t.app.inject({ method: "POST", url: "/api/v1/auth/login", payload });
    const withoutCode = await login({ username: "two_factor_reset", password: NEW_PASSWORD });
    assert.equal(withoutCode.statusCode, 401);
    assert.match(JSON.parse(withoutCode.body).type, /mfa-required$/);
    assert.equal(sessionCookieFrom(withoutCode), null, "no session without the code");
    const wrongCode = await login({
      username: "two_factor_reset",
      password: NEW_PASSWORD,
      totp: "000000",
    });
    assert.equal(wrongCode.statusCode, 401);
    assert.match(JSON.parse(wrongCode.body).type, /mfa-required$/);
    assert.equal(sessionCookieFrom(wrongCode), null);

    t.clock.advance(60_000);
    const withCode = await login({
      username: "two_factor_reset",
      password: NEW_PASSWORD,
      totp: generateTotpCode(secret, t.clock.now().getTime()),
    });
    assert.equal(withCode.statusCode, 200, withCode.body);
    assert.ok(sessionCookieFrom(withCode), "signed in once the code is given");
  });

  it("production without SMTP refuses with a clear 503", async () => {
    const production = await createTestApp({
      env: { NODE_ENV: "production", PUBLIC_URL: "https://vault.example.test" },
    });
    try {
      const response = await production.app.inject({
        method: "POST",
        url: "/api/v1/auth/password-reset",
        payload: { email: "a@example.test" },
      });
      assert.equal(response.statusCode, 503);
      assert.match(JSON.parse(response.body).type, /mail-unavailable$/);
      assert.match(JSON.parse(response.body).detail, /so password reset is unavailable/);
    } finally {
      await production.close();
    }
  });

  it("sends the link through a real SMTP server", async () => {
    const received: string[] = [];
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ["STARTTLS"],
      onData(stream, _session, callback) {
        let data = "";
        stream.on("data", (chunk: Buffer) => {
          data += chunk.toString();
        });
        stream.on("end", () => {
          received.push(data);
          callback();
        });
      },
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    const port = (server.server.address() as { port: number }).port;
    const { createMailer } = await import("../../src/mail/mailer.js");
    const { createLogger } = await import("../../src/logger.js");
    const mailer = createMailer({
      smtp: { url: `smtp://127.0.0.1:${port}`, from: "vault@example.test" },
      env: "test",
      logger: createLogger({ level: "silent", pretty: false }),
    });
    const withSmtp = await createTestApp({ mailer });
    try {
      await createTestUser(withSmtp, { username: "smtp_user", email: "smtp_user@example.test" });
      const response = await withSmtp.app.inject({
        method: "POST",
        url: "/api/v1/auth/password-reset",
        payload: { email: "smtp_user@example.test" },
      });
      assert.equal(response.statusCode, 202);
      for (let i = 0; i < 100 && received.length === 0; i++)
        await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(received.length, 1);
      assert.match(received[0] ?? "", /reset-password#token=3D/); // "=" is "=3D" in quoted-printable
      assert.match(received[0] ?? "", /To: smtp_user@example.test/i);
    } finally {
      await withSmtp.close();
      await mailer.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

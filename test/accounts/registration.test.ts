import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestUser, GOOD_PASSWORD, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
before(async () => {
  t = await createTestApp({ env: { REGISTRATION: "open" } });
});
after(async () => {
  await t.close();
});

const register = (payload: unknown) =>
  t.app.inject({
    method: "POST",
    url: "/api/v1/auth/register",
    payload: payload as Record<string, unknown>,
  });
const pendingCount = async (): Promise<number> =>
  Number(
    (
      await t.database.db
        .selectFrom("pending_registrations")
        .select((eb) => eb.fn.countAll().as("n"))
        .executeTakeFirstOrThrow()
    ).n,
  );
const userCount = async (): Promise<number> =>
  Number(
    (
      await t.database.db
        .selectFrom("users")
        .select((eb) => eb.fn.countAll().as("n"))
        .executeTakeFirstOrThrow()
    ).n,
  );
const tokenFromMail = (text: string): string => {
  const match = /token=([A-Za-z0-9_-]+)/.exec(text);
  assert.ok(match?.[1], text);
  return match[1];
};
const waitForMail = async (count: number): Promise<void> => {
  for (let i = 0; i < 50 && t.mail.length < count; i++)
    await new Promise((resolve) => setImmediate(resolve));
  assert.ok(t.mail.length >= count, `expected ${count} mails, got ${t.mail.length}`);
};

describe("registration", () => {
  it("signs up, mails a link, and creates the account only when it is followed", async () => {
    const response = await register({
      username: "new_user",
      email: "new@example.test",
      password: GOOD_PASSWORD,
    });
    assert.equal(response.statusCode, 201, response.body);
    const body = JSON.parse(response.body);
    assert.equal(body.user.username, "new_user");
    assert.equal(body.verificationRequired, true);
    assert.equal(await pendingCount(), 1);
    await waitForMail(1);
    const mail = t.mail.at(-1);
    assert.equal(mail?.to, "new@example.test");
    const denied = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { username: "new_user", password: GOOD_PASSWORD },
    });
    assert.equal(denied.statusCode, 401, "no sign-in before confirming");

    const confirm = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/register/confirm",
      payload: { token: tokenFromMail(mail?.text ?? "") },
    });
    assert.equal(confirm.statusCode, 201, confirm.body);
    assert.equal(JSON.parse(confirm.body).user.id, body.user.id);
    await signIn(t, "new_user");

    const reused = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/register/confirm",
      payload: { token: tokenFromMail(mail?.text ?? "") },
    });
    assert.equal(reused.statusCode, 400);
    assert.match(JSON.parse(reused.body).type, /invalid-token$/);
  });

  it("an expired link creates nothing", async () => {
    const before = t.mail.length;
    assert.equal(
      (
        await register({
          username: "late_user",
          email: "late@example.test",
          password: GOOD_PASSWORD,
        })
      ).statusCode,
      201,
    );
    await waitForMail(before + 1);
    t.clock.advance(25 * 3600_000);
    const confirm = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/register/confirm",
      payload: { token: tokenFromMail(t.mail.at(-1)?.text ?? "") },
    });
    assert.equal(confirm.statusCode, 400);
    assert.equal(
      await t.database.db
        .selectFrom("users")
        .select("id")
        .where("username_key", "=", "late_user")
        .executeTakeFirst(),
      undefined,
    );
  });

  for (const [label, username] of [
    ["too short", "abc"],
    ["too long", "a".repeat(26)],
    ["with a hyphen", "bad-name"],
    ["with a space", "bad name"],
    ["with non-ASCII letters", "名前abcd"],
    ["with a Cyrillic look-alike", "\u0430dmin_user"],
    ["with a fullwidth letter", "ａdmin_user"],
    ["with a zero-width joiner", "admin\u200duser"],
  ] as const) {
    it(`refuses a username ${label}, storing nothing`, async () => {
      const [pending, users] = [await pendingCount(), await userCount()];
      const response = await register({
        username,
        email: "x@example.test",
        password: GOOD_PASSWORD,
      });
      assert.equal(response.statusCode, 400);
      assert.ok(
        JSON.parse(response.body).errors.some((e: { path: string }) => e.path === "body.username"),
      );
      assert.equal(await pendingCount(), pending);
      assert.equal(await userCount(), users);
    });
  }

  it("refuses a username taken in another case", async () => {
    await createTestUser(t, { username: "Carol_X" });
    const response = await register({
      username: "carol_x",
      email: "other@example.test",
      password: GOOD_PASSWORD,
    });
    assert.equal(response.statusCode, 409);
  });

  for (const email of [
    "not-an-email",
    "a@",
    "@example.test",
    "a b@example.test",
    `${"a".repeat(250)}@example.test`,
    "",
  ]) {
    it(`refuses the e-mail ${JSON.stringify(email.slice(0, 20))}`, async () => {
      const response = await register({ username: "mail_test", email, password: GOOD_PASSWORD });
      assert.equal(response.statusCode, 400);
      assert.ok(
        JSON.parse(response.body).errors.some((e: { path: string }) => e.path === "body.email"),
      );
    });
  }

  for (const [label, password] of [
    ["shorter than 15 characters", "Zq8!vLr2#pW9x"],
    ["common", "passwordpassword"],
    ["containing the username", "pw_tester-orbit-lantern-77"],
    ["longer than 1024 characters", "x7".repeat(513)],
  ] as const) {
    it(`refuses a password ${label}, never echoing it`, async () => {
      const response = await register({
        username: "pw_tester",
        email: "pw@example.test",
        password,
      });
      assert.equal(response.statusCode, 400, response.body);
      assert.ok(!response.body.includes(password));
      assert.ok(
        JSON.parse(response.body).errors.some((e: { path: string }) => e.path === "body.password"),
      );
    });
  }

  it("refuses a 10 MB body with 413", async () => {
    const response = await register({
      username: "big_body",
      email: "big@example.test",
      password: "p".repeat(10 * 1024 * 1024),
    });
    assert.equal(response.statusCode, 413);
  });

  it("accepts a 1024-character password without truncating it", async () => {
    const long = "a1b2c3d4e5f6g7h8i9j0".repeat(52).slice(0, 1024);
    const user = await createTestUser(t, { username: "long_pw", password: long });
    await signIn(t, "long_pw", long);
    const wrong = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { username: "long_pw", password: `${long.slice(0, 1023)}X` },
    });
    assert.equal(wrong.statusCode, 401);
    assert.ok(user.id);
  });

  it("a sign-up with an existing e-mail looks like any other, and notifies the owner instead", async () => {
    await createTestUser(t, { username: "dora_owner", email: "dora@example.test" });
    const mailBefore = t.mail.length;
    const pendingBefore = await pendingCount();
    const taken = await register({
      username: "dora_clone",
      email: "DORA@example.test",
      password: GOOD_PASSWORD,
    });
    const fresh = await register({
      username: "eve_fresh",
      email: "eve@example.test",
      password: GOOD_PASSWORD,
    });
    assert.equal(taken.statusCode, fresh.statusCode);
    const shape = (body: string): string[] => {
      const parsed = JSON.parse(body);
      return [...Object.keys(parsed), ...Object.keys(parsed.user)].sort();
    };
    assert.deepEqual(shape(taken.body), shape(fresh.body));
    assert.equal(await pendingCount(), pendingBefore + 1, "only the fresh one is pending");
    await waitForMail(mailBefore + 2);
    const notice = t.mail.slice(mailBefore).find((m) => m.to === "dora@example.test");
    assert.ok(notice && !/token=/.test(notice.text), "the owner gets a notice, not a link");
  });

  it("is refused when REGISTRATION is invite or closed", async () => {
    for (const mode of ["invite", "closed"]) {
      const other = await createTestApp({ env: { REGISTRATION: mode } });
      try {
        const response = await other.app.inject({
          method: "POST",
          url: "/api/v1/auth/register",
          payload: { username: "someone", email: "s@example.test", password: GOOD_PASSWORD },
        });
        assert.equal(response.statusCode, 403);
        assert.match(JSON.parse(response.body).type, /registration-closed$/);
      } finally {
        await other.close();
      }
    }
  });
});

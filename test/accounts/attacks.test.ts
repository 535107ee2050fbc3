import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestUser, GOOD_PASSWORD } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
before(async () => {
  t = await createTestApp();
});
after(async () => {
  await t.close();
});

const login = (
  payload: Record<string, unknown>,
  options: { address?: string; headers?: Record<string, string> } = {},
) =>
  t.app.inject({
    method: "POST",
    url: "/api/v1/auth/login",
    payload,
    remoteAddress: options.address ?? "198.51.100.7",
    ...(options.headers ? { headers: options.headers } : {}),
  });
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe("attacks on the account flows", () => {
  it("a burst of concurrent guesses is counted in full", async () => {
    await createTestUser(t, { username: "burst_target" });
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        login(
          { username: "burst_target", password: `concurrent-guess-${i}-xx` },
          { address: "198.51.100.40" },
        ),
      ),
    );
    const statuses = responses.map((r) => r.statusCode);
    assert.equal(statuses.filter((s) => s === 401).length, 5, statuses.join());
    assert.equal(statuses.filter((s) => s === 429).length, 35);
  });

  it("an attacker over the per-address reset limit cannot use up a victim's resets", async () => {
    await createTestUser(t, { username: "reset_victim", email: "reset-victim@example.test" });
    const attacker = "198.51.100.66";
    for (let i = 0; i < 10; i++) {
      await t.app.inject({
        method: "POST",
        url: "/api/v1/auth/password-reset",
        payload: { email: `nobody${i}@example.test` },
        remoteAddress: attacker,
      });
    }
    for (let i = 0; i < 5; i++) {
      const refused = await t.app.inject({
        method: "POST",
        url: "/api/v1/auth/password-reset",
        payload: { email: "reset-victim@example.test" },
        remoteAddress: attacker,
      });
      assert.equal(refused.statusCode, 429);
    }
    const before = t.mail.length;
    const own = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/password-reset",
      payload: { email: "reset-victim@example.test" },
      remoteAddress: "203.0.113.5",
    });
    assert.equal(own.statusCode, 202);
    await settle();
    assert.equal(t.mail.length, before + 1, "the victim still gets the link");
  });

  it("the lockout does not link a username to its e-mail address", async () => {
    await createTestUser(t, { username: "linked_a", email: "linked-a@example.test" });
    await createTestUser(t, { username: "linked_b", email: "linked-b@example.test" });
    const address = "198.51.100.77";
    for (let i = 0; i < 5; i++)
      await login({ username: "linked_a", password: `wrong-link-guess-${i}-x` }, { address });
    const sameAccount = await login(
      { username: "linked-a@example.test", password: "wrong-link-guess-x-y" },
      { address },
    );
    const otherAccount = await login(
      { username: "linked-b@example.test", password: "wrong-link-guess-x-y" },
      { address },
    );
    assert.equal(
      sameAccount.statusCode,
      otherAccount.statusCode,
      "the e-mail of the locked name answers like any other",
    );
  });

  it("IPv6 clients are counted per /64", async () => {
    await createTestUser(t, { username: "v6_target" });
    const statuses: number[] = [];
    for (let i = 1; i <= 8; i++) {
      statuses.push(
        (
          await login(
            { username: "v6_target", password: `v6-guess-${i}-wrong-pw` },
            { address: `2001:db8:aa:bb::${i.toString(16)}` },
          )
        ).statusCode,
      );
    }
    assert.deepEqual(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
  });

  it("a forged Host header does not make a foreign Origin acceptable", async () => {
    await createTestUser(t, { username: "host_forger" });
    const response = await login(
      { username: "host_forger", password: GOOD_PASSWORD },
      { headers: { host: "evil.example", origin: "http://evil.example" } },
    );
    assert.equal(response.statusCode, 403);
    const local = await login(
      { username: "host_forger", password: GOOD_PASSWORD },
      { headers: { origin: "http://localhost:8080" } },
    );
    assert.equal(local.statusCode, 200, "loopback origins work in development");
  });

  it("changing the e-mail address is throttled and tells the old address", async () => {
    await createTestUser(t, { username: "email_prober", email: "prober@example.test" });
    const signIn = await login({ username: "email_prober", password: GOOD_PASSWORD });
    const cookie = String(signIn.headers["set-cookie"]).split(";")[0] ?? "";
    const csrf = JSON.parse(signIn.body).csrfToken as string;
    const before = t.mail.length;
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      statuses.push(
        (
          await t.app.inject({
            method: "PATCH",
            url: "/api/v1/me",
            headers: { cookie, "x-csrf-token": csrf },
            payload: { email: `probe${i}@example.test` },
          })
        ).statusCode,
      );
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
    await settle();
    assert.equal(t.mail.slice(before)[0]?.to, "prober@example.test", "the old address is told");
  });
});

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { asSession, createTestUser, GOOD_PASSWORD, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";
import type { TestRedisServer } from "../helpers/redis-server.js";
import { isRedisServerInstalled, startRedisServer } from "../helpers/redis-server.js";

const skip = isRedisServerInstalled()
  ? false
  : "redis-server not installed: the application-level Redis outage test is skipped";

/**
 * The whole app through a Redis outage (a private redis-server stopped and started again):
 * it keeps serving, sign-in throttling fails closed (a stricter in-process limit), the fault
 * is logged once, and shared counting comes back with Redis.
 */
describe("the app through a Redis outage", { skip }, () => {
  let redis: TestRedisServer;
  let t: TestApp;
  const failLogin = (username: string) =>
    t.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { username, password: "certainly not the password" },
    });
  const warnings = (): string[] =>
    t.logs.filter((line) => JSON.parse(line).level === 40 && /redis/i.test(line));

  before(async () => {
    redis = await startRedisServer();
    t = await createTestApp({
      redisUrl: redis.url,
      env: { LOGIN_MAX_FAILURES_PER_ACCOUNT_ADDRESS: "4" },
    });
    await createTestUser(t, { username: "owner_r" });
    await createTestUser(t, { username: "victim_r" });
    const owner = await signIn(t, "owner_r");
    const vault = await t.app.inject({
      method: "POST",
      url: "/api/v1/vaults",
      headers: asSession(owner),
      payload: { slug: "outage" },
    });
    assert.equal(vault.statusCode, 201, vault.body);
    const put = await t.app.inject({
      method: "PUT",
      url: "/api/v1/vaults/outage/secrets/KEY",
      headers: asSession(owner),
      payload: { value: "still here" },
    });
    assert.equal(put.statusCode, 201, put.body);
  });

  after(async () => {
    await t?.close();
    await redis?.stop();
  });

  it("keeps serving and fails closed while Redis is down, then recovers", async () => {
    await redis.stop();
    // Serving goes on: health, sign-in, reading a secret.
    assert.equal((await t.app.inject({ url: "/healthz" })).statusCode, 200);
    assert.equal((await t.app.inject({ url: "/readyz" })).statusCode, 200);
    const owner = await signIn(t, "owner_r", GOOD_PASSWORD);
    const read = await t.app.inject({
      url: "/api/v1/vaults/outage/secrets/KEY",
      headers: { cookie: owner.cookie },
    });
    assert.equal(read.statusCode, 200, read.body);
    assert.equal(read.json().value, "still here");

    // Fails closed: half the attempts (2 of 4) before sign-in is refused for this account.
    const during = [];
    for (let i = 0; i < 3; i++) during.push((await failLogin("victim_r")).statusCode);
    assert.deepEqual(during, [401, 401, 429]);
    assert.equal(warnings().length, 1, "the outage is logged once");

    await redis.start();
    for (let i = 0; i < 50 && !t.throttle.redisConnected(); i++) await sleep(100);
    assert.equal(t.throttle.redisConnected(), true, "back on Redis");
    // Counting is Redis's again (it restarted empty): four attempts for another account.
    await createTestUser(t, { username: "other_r" });
    const afterwards = [];
    for (let i = 0; i < 5; i++) afterwards.push((await failLogin("other_r")).statusCode);
    assert.deepEqual(afterwards, [401, 401, 401, 401, 429]);
    assert.equal(warnings().length, 1, "still one warning");
  });
});

/**
 * `API_RATE_LIMIT`: every authenticated request spends one point of its caller's budget per
 * minute — an API token's own, or the user's for all their browser sessions together — and
 * past it gets 429 before anything of the request runs. Anonymous requests are left to the
 * per-address limits of sign-in, sign-up, reset and share links. With Redis the budget is
 * shared by every instance.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import type { SignedIn } from "./helpers/accounts.js";
import { asSession, createTestUser, GOOD_PASSWORD, signIn } from "./helpers/accounts.js";
import type { TestApp } from "./helpers/app.js";
import { createTestApp } from "./helpers/app.js";
import type { TestDatabase } from "./helpers/databases.js";
import { createTestDatabase } from "./helpers/databases.js";
import { deleteRedisKeys } from "./helpers/redis-server.js";

const REDIS_URL = process.env.TEST_REDIS_URL;
const REDIS_SKIPPED =
  "TEST_REDIS_URL not set: the per-caller budget shared over Redis skipped " +
  "(set TEST_REDIS_URL=redis://127.0.0.1:6379 to run it)";

const LIMIT = 8;

type Method = "GET" | "POST" | "PUT" | "DELETE";

function call(
  t: TestApp,
  auth: { session?: SignedIn; token?: string },
  method: Method,
  url: string,
  payload?: Record<string, unknown>,
  accept = "application/json",
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method,
    url,
    headers: {
      accept,
      ...(auth.session === undefined ? {} : asSession(auth.session)),
      ...(auth.token === undefined ? {} : { authorization: `Bearer ${auth.token}` }),
    },
    ...(payload === undefined ? {} : { payload }),
  });
}

function assertRateLimited(response: LightMyRequestResponse, what: string): void {
  assert.equal(response.statusCode, 429, `${what}: ${response.body}`);
  assert.match(String(response.headers["content-type"]), /^application\/problem\+json/, what);
  assert.match(String(JSON.parse(response.body).type), /too-many-requests$/, what);
  const retryAfter = Number(response.headers["retry-after"]);
  assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 60, what);
}

/** Signs `username` in, makes a vault and mints `count` read/write tokens for it. */
async function ownerWithTokens(
  t: TestApp,
  username: string,
  vault: string,
  count: number,
): Promise<{ session: SignedIn; tokens: Array<{ token: string; id: string }> }> {
  await createTestUser(t, { username });
  const session = await signIn(t, username);
  const made = await call(t, { session }, "POST", "/api/v1/vaults", { slug: vault });
  assert.equal(made.statusCode, 201, made.body);
  const tokens: Array<{ token: string; id: string }> = [];
  for (let n = 0; n < count; n++) {
    const minted = await call(t, { session }, "POST", "/api/v1/me/tokens", {
      name: `${vault}-${n}`,
      scopes: [{ vault, permission: "write" }],
      expiresInDays: 1,
    });
    assert.equal(minted.statusCode, 201, minted.body);
    const body = JSON.parse(minted.body) as { token: string; id: string };
    tokens.push({ token: body.token, id: body.id });
  }
  return { session, tokens };
}

function rateLimitedLines(t: TestApp): Array<Record<string, unknown>> {
  return t.logs
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((entry) => entry.event === "security.rate_limited");
}

describe("the per-caller request budget (API_RATE_LIMIT)", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({ env: { API_RATE_LIMIT: String(LIMIT) } });
  });
  after(async () => {
    await t.close();
  });

  it("gives each API token its own budget, and refuses the request past it before it runs", async () => {
    const { session, tokens } = await ownerWithTokens(t, "budget_owner", "budget-vault", 2);
    const [first, second] = tokens as [
      { token: string; id: string },
      { token: string; id: string },
    ];
    for (let n = 0; n < LIMIT; n++) {
      const listed = await call(t, first, "GET", "/api/v1/vaults/budget-vault/secrets");
      assert.equal(listed.statusCode, 200, `request ${n + 1} of ${LIMIT}: ${listed.body}`);
    }
    const write = await call(t, first, "PUT", "/api/v1/vaults/budget-vault/secrets/LATE", {
      value: "written-past-the-budget",
    });
    assertRateLimited(write, "the write past the budget");
    const stored = await t.database.db
      .selectFrom("secrets")
      .select("name")
      .where("name", "=", "LATE")
      .execute();
    assert.deepEqual(stored, [], "the refused write did not happen");
    assertRateLimited(
      await call(t, first, "GET", "/api/v1/vaults/budget-vault/secrets"),
      "and it stays refused for the rest of the minute",
    );

    // The owner's other token and their browser session have budgets of their own.
    const other = await call(t, second, "PUT", "/api/v1/vaults/budget-vault/secrets/LATE", {
      value: "written-by-the-other-token",
    });
    assert.equal(other.statusCode, 201, other.body);
    assert.equal((await call(t, { session }, "GET", "/api/v1/me")).statusCode, 200);

    // One warning for the token that ran out, naming it by id, never by value.
    const lines = rateLimitedLines(t);
    assert.equal(lines.length, 1, JSON.stringify(lines));
    assert.equal(lines[0]?.bearerId, first.id);
    assert.equal(lines[0]?.limitPerMinute, LIMIT);
    assert.ok(!t.logs.some((line) => line.includes(first.token)), "no token in the log");
  });

  it("counts a user's browser sessions together, pages included, and leaves others alone", async () => {
    await createTestUser(t, { username: "budget_browser" });
    await createTestUser(t, { username: "budget_bystander" });
    const one = await signIn(t, "budget_browser");
    const two = await signIn(t, "budget_browser");
    const bystander = await signIn(t, "budget_bystander");
    for (let n = 0; n < LIMIT; n++) {
      const response =
        n % 2 === 0
          ? await call(t, { session: one }, "GET", "/api/v1/me")
          : await call(t, { session: one }, "GET", "/settings", undefined, "text/html");
      assert.equal(response.statusCode, 200, `request ${n + 1}: ${response.body.slice(0, 200)}`);
    }
    assertRateLimited(
      await call(t, { session: two }, "GET", "/api/v1/me"),
      "a second sign-in does not buy a fresh budget",
    );
    const page = await call(t, { session: two }, "GET", "/settings", undefined, "text/html");
    assert.equal(page.statusCode, 429, "pages spend the same budget");
    assert.match(String(page.headers["content-type"]), /^text\/html/, "and say so as a page");
    assert.match(page.body, /<title>Too many requests/);
    assert.match(String(page.headers["retry-after"]), /^[1-9][0-9]*$/);
    const asset = await t.app.inject({
      url: "/static/app.css",
      headers: { cookie: two.cookie },
    });
    assert.equal(asset.statusCode, 200, "static assets are not counted");
    assert.equal((await call(t, { session: bystander }, "GET", "/api/v1/me")).statusCode, 200);

    // Signing out is public and always works, even past the budget.
    const out = await call(t, { session: two }, "POST", "/api/v1/auth/logout");
    assert.equal(out.statusCode, 204, out.body);

    // Anonymous requests are not counted here: a wrong password is still a plain 401.
    const login = await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/login",
      payload: { username: "budget_browser", password: `${GOOD_PASSWORD}-not` },
    });
    assert.equal(login.statusCode, 401, login.body);
  });
});

describe("API_RATE_LIMIT=0", () => {
  let t: TestApp;
  before(async () => {
    t = await createTestApp({ env: { API_RATE_LIMIT: "0" } });
  });
  after(async () => {
    await t.close();
  });

  it("turns the budget off", async () => {
    const { tokens } = await ownerWithTokens(t, "unlimited_owner", "unlimited", 1);
    const [only] = tokens as [{ token: string; id: string }];
    for (let n = 0; n < 3 * LIMIT; n++) {
      const listed = await call(t, only, "GET", "/api/v1/vaults/unlimited/secrets");
      assert.equal(listed.statusCode, 200, `request ${n + 1}`);
    }
    assert.deepEqual(rateLimitedLines(t), []);
  });
});

describe("the per-caller budget shared through Redis", {
  skip: REDIS_URL ? false : REDIS_SKIPPED,
}, () => {
  // Two instances of one deployment: one database, one Redis, one key prefix.
  const keyPrefix = `test-budget-${randomBytes(6).toString("hex")}`;
  let shared: TestDatabase;
  let a: TestApp;
  let b: TestApp;
  before(async () => {
    shared = await createTestDatabase();
    const options = {
      env: { API_RATE_LIMIT: String(LIMIT) },
      target: shared.target,
      redisUrl: REDIS_URL ?? "",
      throttleKeyPrefix: keyPrefix,
    };
    a = await createTestApp(options);
    b = await createTestApp(options);
    assert.equal(a.throttle.backend, "redis");
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await shared?.cleanup();
    await deleteRedisKeys(REDIS_URL ?? "", keyPrefix);
  });

  it("counts a token's requests on every instance against one budget", async () => {
    const { tokens } = await ownerWithTokens(a, "shared_budget", "shared-budget", 1);
    const [only] = tokens as [{ token: string; id: string }];
    for (let n = 0; n < LIMIT; n++) {
      const instance = n % 2 === 0 ? a : b;
      const listed = await call(instance, only, "GET", "/api/v1/vaults/shared-budget/secrets");
      assert.equal(listed.statusCode, 200, `request ${n + 1}: ${listed.body}`);
    }
    assertRateLimited(await call(a, only, "GET", "/api/v1/vaults/shared-budget/secrets"), "on a");
    assertRateLimited(await call(b, only, "GET", "/api/v1/vaults/shared-budget/secrets"), "on b");
  });
});

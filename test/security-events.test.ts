/**
 * Security events in the application log: a refused bearer token, a refused authorization
 * (403, and the 404 that hides a vault) and a refused CSRF check each write exactly one
 * `warn` line with a stable `event`, the caller's user id where known and the client
 * address — and never a token, cookie or CSRF value.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createApiToken } from "../src/tokens/tokens.service.js";
import type { SignedIn } from "./helpers/accounts.js";
import { asSession, createTestUser, signIn } from "./helpers/accounts.js";
import type { TestApp } from "./helpers/app.js";
import { createTestApp } from "./helpers/app.js";

/** pino's number for `warn`. */
const WARN = 40;

interface LogRecord {
  level: number;
  event?: string;
  reqId?: string;
  [field: string]: unknown;
}

let t: TestApp;
let owner: SignedIn;
let viewer: SignedIn;
let outsider: SignedIn;
before(async () => {
  t = await createTestApp({ env: { LOG_LEVEL: "info", TRUST_PROXY: "127.0.0.1" } });
  for (const username of ["event_owner", "event_viewer", "event_outsider"])
    await createTestUser(t, { username });
  owner = await signIn(t, "event_owner");
  viewer = await signIn(t, "event_viewer");
  outsider = await signIn(t, "event_outsider");
  const vault = await t.app.inject({
    method: "POST",
    url: "/api/v1/vaults",
    headers: asSession(owner),
    payload: { slug: "event-vault" },
  });
  assert.equal(vault.statusCode, 201, vault.body);
  const member = await t.app.inject({
    method: "PUT",
    url: "/api/v1/vaults/event-vault/members/event_viewer",
    headers: asSession(owner),
    payload: { role: "viewer" },
  });
  assert.ok(member.statusCode < 300, member.body);
});
after(async () => {
  await t.close();
});

/** Runs `act` and returns the security events it logged (and all its log text). */
async function eventsOf(
  act: () => Promise<unknown>,
): Promise<{ events: LogRecord[]; text: string }> {
  const from = t.logs.length;
  await act();
  const lines = t.logs.slice(from);
  for (const line of lines)
    for (const key of ["userId", "via", "bearerId", "event"])
      assert.ok(line.split(`"${key}":`).length - 1 <= 1, `${key} twice in ${line}`);
  const records = lines.map((line) => JSON.parse(line) as LogRecord);
  return {
    events: records.filter((record) => record.event?.startsWith("security.")),
    text: lines.join("\n"),
  };
}

/** Exactly one event, named `event`, at warn, from the client address, with the request id. */
function onlyEvent(events: LogRecord[], event: string): LogRecord {
  assert.equal(events.length, 1, `one security event: ${JSON.stringify(events)}`);
  const [record] = events;
  assert.ok(record);
  assert.equal(record.event, event);
  assert.equal(record.level, WARN);
  assert.equal(record.address, "203.0.113.9", "the client address, through the trusted proxy");
  assert.equal(typeof record.reqId, "string");
  return record;
}

const VIA_PROXY = { "x-forwarded-for": "203.0.113.9" };

async function issueToken(
  user: SignedIn,
  username: string,
  permission: "read" | "write",
  expiresInDays = 30,
): Promise<{ token: string; id: string }> {
  const { token, apiToken } = await createApiToken(t.database.db, {
    userId: user.userId,
    username,
    name: `events ${permission}`,
    scopes: [{ vault: "event-vault", permission }],
    expiresInDays,
    now: t.clock.now(),
    address: null,
  });
  return { token, id: apiToken.id };
}

describe("security.token_refused", () => {
  const probe = (token: string) =>
    t.app.inject({
      url: "/api/v1/vaults",
      headers: { ...VIA_PROXY, authorization: `Bearer ${token}` },
    });

  it("is logged for an unknown token, naming nothing of it", async () => {
    const token = `sr_${randomBytes(32).toString("base64url")}`;
    const { events, text } = await eventsOf(async () => {
      assert.equal((await probe(token)).statusCode, 401);
    });
    const record = onlyEvent(events, "security.token_refused");
    assert.equal(record.reason, "unknown");
    assert.equal(record.userId, null);
    assert.equal(record.bearerId, null);
    assert.ok(!text.includes(token.slice(3, 20)), "no part of the token in the log");
  });

  it("is logged for a malformed bearer value, without echoing it", async () => {
    const value = "not-a-token-but-maybe-a-password";
    const { events, text } = await eventsOf(async () => {
      assert.equal((await probe(value)).statusCode, 401);
    });
    assert.equal(onlyEvent(events, "security.token_refused").reason, "malformed");
    assert.ok(!text.includes(value));
  });

  it("names the revoked token's id and owner, never the token", async () => {
    const { token, id } = await issueToken(viewer, "event_viewer", "read");
    assert.equal((await probe(token)).statusCode, 200, "live at first");
    const revoked = await t.app.inject({
      method: "DELETE",
      url: `/api/v1/me/tokens/${id}`,
      headers: asSession(viewer),
    });
    assert.equal(revoked.statusCode, 204, revoked.body);
    const { events, text } = await eventsOf(async () => {
      assert.equal((await probe(token)).statusCode, 401);
    });
    const record = onlyEvent(events, "security.token_refused");
    assert.equal(record.reason, "revoked");
    assert.equal(record.bearerId, id);
    assert.equal(record.userId, viewer.userId);
    assert.ok(!text.includes(token.slice(3)), "the token is not logged");
  });

  it("names an expired token's id and owner", async () => {
    const { token, id } = await issueToken(owner, "event_owner", "read", 1);
    t.clock.advance(2 * 86_400_000);
    const { events, text } = await eventsOf(async () => {
      assert.equal((await probe(token)).statusCode, 401);
    });
    const record = onlyEvent(events, "security.token_refused");
    assert.equal(record.reason, "expired");
    assert.equal(record.bearerId, id);
    assert.equal(record.userId, owner.userId);
    assert.ok(!text.includes(token.slice(3)));
    // Two days on, the sessions are past their 12-hour limit: sign in again for what follows.
    owner = await signIn(t, "event_owner");
    viewer = await signIn(t, "event_viewer");
    outsider = await signIn(t, "event_outsider");
  });

  it("is not logged for a live token", async () => {
    const { token } = await issueToken(owner, "event_owner", "read");
    const { events } = await eventsOf(async () => {
      assert.equal((await probe(token)).statusCode, 200);
    });
    assert.deepEqual(events, []);
  });
});

describe("security.access_denied", () => {
  it("is logged for a 403, naming the session's user and nothing of its cookie", async () => {
    const { events, text } = await eventsOf(async () => {
      const response = await t.app.inject({
        method: "PUT",
        url: "/api/v1/vaults/event-vault/secrets/DENIED",
        headers: { ...VIA_PROXY, ...asSession(viewer) },
        payload: { value: "viewers cannot write" },
      });
      assert.equal(response.statusCode, 403);
    });
    const record = onlyEvent(events, "security.access_denied");
    assert.equal(record.status, 403);
    assert.equal(record.userId, viewer.userId);
    assert.equal(record.via, "session");
    assert.equal(record.method, "PUT");
    assert.equal(record.url, "/api/v1/vaults/event-vault/secrets/DENIED");
    const cookieValue = viewer.cookie.split("=")[1] ?? "";
    assert.ok(!text.includes(cookieValue), "no session cookie");
    assert.ok(!text.includes(viewer.csrfToken), "no CSRF token");
    assert.ok(!text.includes("viewers cannot write"), "no secret value");
  });

  it("is logged for a token beyond its scope, naming the token's id", async () => {
    const { token, id } = await issueToken(owner, "event_owner", "read");
    const { events, text } = await eventsOf(async () => {
      const response = await t.app.inject({
        method: "PUT",
        url: "/api/v1/vaults/event-vault/secrets/READ_ONLY",
        headers: { ...VIA_PROXY, authorization: `Bearer ${token}` },
        payload: { value: "x" },
      });
      assert.equal(response.statusCode, 403);
    });
    const record = onlyEvent(events, "security.access_denied");
    assert.equal(record.via, "token");
    assert.equal(record.bearerId, id);
    assert.equal(record.userId, owner.userId);
    assert.ok(!text.includes(token.slice(3)));
  });

  it("is logged for the 404 that hides a vault, but not for a vault that does not exist", async () => {
    const read = (slug: string) =>
      t.app.inject({
        url: `/api/v1/vaults/${slug}/secrets`,
        headers: { ...VIA_PROXY, cookie: outsider.cookie },
      });
    let hidden: Awaited<ReturnType<typeof read>> | undefined;
    const seen = await eventsOf(async () => {
      hidden = await read("event-vault");
    });
    let missing: Awaited<ReturnType<typeof read>> | undefined;
    const unseen = await eventsOf(async () => {
      missing = await read("no-such-vault");
    });
    assert.equal(hidden?.statusCode, 404);
    assert.equal(missing?.statusCode, 404);
    const { requestId: _a, ...hiddenBody } = JSON.parse(hidden?.body ?? "{}");
    const { requestId: _b, ...missingBody } = JSON.parse(missing?.body ?? "{}");
    assert.deepEqual(hiddenBody, missingBody, "the client cannot tell them apart");
    const record = onlyEvent(seen.events, "security.access_denied");
    assert.equal(record.status, 404);
    assert.equal(record.userId, outsider.userId);
    assert.deepEqual(unseen.events, [], "a missing vault is not a security event");
  });
});

describe("security.csrf_refused", () => {
  it("is logged for a session request without its CSRF token, naming the user", async () => {
    const { events, text } = await eventsOf(async () => {
      const response = await t.app.inject({
        method: "POST",
        url: "/api/v1/vaults",
        headers: { ...VIA_PROXY, cookie: owner.cookie },
        payload: { slug: "forged-vault" },
      });
      assert.equal(response.statusCode, 403);
      assert.match(JSON.parse(response.body).type, /csrf-failed$/);
    });
    const record = onlyEvent(events, "security.csrf_refused");
    assert.equal(record.userId, owner.userId);
    assert.equal(record.errorCode, "csrf-failed");
    assert.ok(!text.includes(owner.cookie.split("=")[1] ?? "-"), "no session cookie");
  });

  it("is logged for a wrong CSRF token without writing the token down", async () => {
    const wrong = randomBytes(32).toString("base64url");
    const { events, text } = await eventsOf(async () => {
      const response = await t.app.inject({
        method: "POST",
        url: "/api/v1/vaults",
        headers: { ...VIA_PROXY, cookie: owner.cookie, "x-csrf-token": wrong },
        payload: { slug: "forged-vault" },
      });
      assert.equal(response.statusCode, 403);
    });
    onlyEvent(events, "security.csrf_refused");
    assert.ok(!text.includes(wrong));
  });

  it("is logged for a page form posted without its CSRF field", async () => {
    const { events } = await eventsOf(async () => {
      const response = await t.app.inject({
        method: "POST",
        url: "/vaults",
        headers: {
          ...VIA_PROXY,
          cookie: owner.cookie,
          accept: "text/html",
          "content-type": "application/x-www-form-urlencoded",
        },
        payload: "slug=forged-by-form",
      });
      assert.equal(response.statusCode, 403);
    });
    assert.equal(onlyEvent(events, "security.csrf_refused").userId, owner.userId);
  });

  it("is logged for a cross-site sign-in attempt, with no user", async () => {
    const { events, text } = await eventsOf(async () => {
      const response = await t.app.inject({
        method: "POST",
        url: "/api/v1/auth/login",
        headers: { ...VIA_PROXY, "sec-fetch-site": "cross-site" },
        payload: { username: "event_owner", password: "a-password-for-the-log-1" },
      });
      assert.equal(response.statusCode, 403);
    });
    const record = onlyEvent(events, "security.csrf_refused");
    assert.equal(record.userId, null);
    assert.ok(!text.includes("a-password-for-the-log-1"));
  });
});

describe("authenticated requests", () => {
  it("say on every line who made them and how, never with what", async () => {
    const { token, id } = await issueToken(owner, "event_owner", "read");
    const from = t.logs.length;
    const byToken = await t.app.inject({
      url: "/api/v1/vaults",
      headers: { authorization: `Bearer ${token}` },
    });
    const bySession = await t.app.inject({
      url: "/api/v1/vaults",
      headers: { cookie: viewer.cookie },
    });
    assert.equal(byToken.statusCode, 200);
    assert.equal(bySession.statusCode, 200);
    const lines = t.logs.slice(from);
    const completed = lines
      .map((line) => JSON.parse(line) as LogRecord)
      .filter((record) => record.msg === "request completed");
    assert.equal(completed.length, 2);
    assert.deepEqual(
      completed.map(({ userId, via, bearerId }) => ({ userId, via, bearerId })),
      [
        { userId: owner.userId, via: "token", bearerId: id },
        { userId: viewer.userId, via: "session", bearerId: undefined },
      ],
    );
    const text = lines.join("\n");
    assert.ok(!text.includes(token.slice(3)), "no token");
    assert.ok(!text.includes(viewer.cookie.split("=")[1] ?? "-"), "no cookie");
    for (const line of lines)
      assert.ok(line.split('"userId":').length <= 2, `userId twice: ${line}`);
  });
});

describe("refused input", () => {
  it("is logged as `request refused` with its error code and user, never the input", async () => {
    const hostile = "<script>refused-input-marker</script>";
    const from = t.logs.length;
    const response = await t.app.inject({
      method: "POST",
      url: "/api/v1/vaults",
      headers: asSession(owner),
      payload: { slug: hostile },
    });
    assert.equal(response.statusCode, 400);
    const lines = t.logs.slice(from);
    const refused = lines
      .map((line) => JSON.parse(line) as LogRecord)
      .filter((record) => record.msg === "request refused");
    assert.equal(refused.length, 1);
    assert.equal(refused[0]?.errorCode, "validation-failed");
    assert.equal(refused[0]?.userId, owner.userId);
    assert.ok(!lines.join("\n").includes("refused-input-marker"), "the input is not logged");
  });
});

/**
 * Expiring secrets (issue 10, item 5): an optional `expiresAt` on PUT, returned with the
 * metadata; after it every reveal answers 410 `secret-expired` and the refusal is audited;
 * owners extend (PATCH) or delete; `?expiringWithinDays=N` lists what expires soon. Runs on
 * the test engine (PostgreSQL under TEST_ENGINE=postgres). The clock moves by a minute or two
 * at a time, well inside the sessions' re-authentication window.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { SignedIn } from "../helpers/accounts.js";
import { asSession, createTestUser, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
let owner: SignedIn;
let editor: SignedIn;
let viewer: SignedIn;
let outsider: SignedIn;

const MINUTE = 60_000;
const DAY = 86_400_000;

before(async () => {
  t = await createTestApp();
  for (const username of ["exp_owner", "exp_editor", "exp_viewer", "exp_outsider"])
    await createTestUser(t, { username });
  owner = await signIn(t, "exp_owner");
  editor = await signIn(t, "exp_editor");
  viewer = await signIn(t, "exp_viewer");
  outsider = await signIn(t, "exp_outsider");
  assert.equal((await call(owner, "POST", "/vaults", { slug: "expiry" })).statusCode, 201);
  await call(owner, "PUT", "/vaults/expiry/members/exp_editor", { role: "editor" });
  await call(owner, "PUT", "/vaults/expiry/members/exp_viewer", { role: "viewer" });
});
after(async () => {
  await t.close();
});

function call(
  session: SignedIn,
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
  url: string,
  payload?: unknown,
) {
  return t.app.inject({
    method,
    url: `/api/v1${url}`,
    headers: asSession(session),
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

/** An ISO time `ms` from the app's now. */
const fromNow = (ms: number): string => new Date(t.clock.now().getTime() + ms).toISOString();

async function row(name: string) {
  return t.database.db
    .selectFrom("secrets")
    .select(["current_version", "expires_at"])
    .where("name", "=", name)
    .executeTakeFirst();
}

async function eventsFor(name: string) {
  return (
    await t.database.db
      .selectFrom("audit_events")
      .select(["action", "outcome", "actor_name", "details"])
      .where("target", "=", `expiry/${name}`)
      .orderBy("seq")
      .execute()
  ).map((e) => ({
    ...e,
    details: typeof e.details === "string" ? JSON.parse(e.details) : e.details,
  }));
}

function assertExpired(response: Awaited<ReturnType<typeof call>>): void {
  assert.equal(response.statusCode, 410, response.body);
  assert.match(String(response.headers["content-type"]), /^application\/problem\+json/);
  const problem = JSON.parse(response.body);
  assert.ok(problem.type.endsWith("#secret-expired"), problem.type);
  assert.equal(problem.status, 410);
  assert.ok(!("value" in problem));
}

describe("expiresAt on write and read", () => {
  it("is stored normalised to UTC and returned by PUT, GET and the list", async () => {
    const created = await call(editor, "PUT", "/vaults/expiry/secrets/TEMP_KEY", {
      value: "temporary",
      expiresAt: "2099-06-01T12:00:00+02:00",
    });
    assert.equal(created.statusCode, 201, created.body);
    const expected = "2099-06-01T10:00:00.000Z";
    assert.equal(JSON.parse(created.body).expiresAt, expected);
    const read = JSON.parse((await call(viewer, "GET", "/vaults/expiry/secrets/TEMP_KEY")).body);
    assert.equal(read.expiresAt, expected);
    assert.equal(read.value, "temporary");
    const listed = JSON.parse((await call(viewer, "GET", "/vaults/expiry/secrets")).body);
    assert.equal(
      listed.secrets.find((s: { name: string }) => s.name === "TEMP_KEY").expiresAt,
      expected,
    );
    await call(editor, "PUT", "/vaults/expiry/secrets/FOREVER", { value: "always" });
    assert.equal(
      JSON.parse((await call(viewer, "GET", "/vaults/expiry/secrets/FOREVER")).body).expiresAt,
      null,
    );
  });

  it("refuses an expiry in the past, now, or not RFC 3339 with 400 and writes nothing", async () => {
    await call(editor, "PUT", "/vaults/expiry/secrets/STRICT", { value: "kept" });
    const before = await row("STRICT");
    for (const expiresAt of [
      fromNow(-MINUTE),
      fromNow(0),
      "tomorrow",
      "2031-01-31",
      "2031-01-31T12:00:00",
      "2031-02-30T12:00:00Z",
      1_900_000_000,
      "",
    ]) {
      for (const name of ["STRICT", "NEW_STRICT"]) {
        const response = await call(editor, "PUT", `/vaults/expiry/secrets/${name}`, {
          value: "changed",
          expiresAt,
        });
        assert.equal(response.statusCode, 400, `${name} ${expiresAt}: ${response.body}`);
        const problem = JSON.parse(response.body);
        assert.ok(problem.type.endsWith("#validation-failed"));
        assert.equal(problem.errors[0].path, "body.expiresAt");
      }
    }
    assert.deepEqual(await row("STRICT"), before);
    assert.equal(await row("NEW_STRICT"), undefined);
  });

  it("a PUT without expiresAt keeps the expiry; null removes it", async () => {
    const at = fromNow(5 * DAY);
    await call(editor, "PUT", "/vaults/expiry/secrets/KEEPS", { value: "a", expiresAt: at });
    const kept = await call(editor, "PUT", "/vaults/expiry/secrets/KEEPS", { value: "b" });
    assert.equal(JSON.parse(kept.body).expiresAt, at);
    assert.equal((await row("KEEPS"))?.expires_at, at);
    const cleared = await call(editor, "PUT", "/vaults/expiry/secrets/KEEPS", {
      value: "c",
      expiresAt: null,
    });
    assert.equal(JSON.parse(cleared.body).expiresAt, null);
    assert.equal((await row("KEEPS"))?.expires_at, null);
  });
});

describe("after expiresAt", () => {
  it("every reveal answers 410 and each refusal is audited; metadata stays readable", async () => {
    await call(editor, "PUT", "/vaults/expiry/secrets/SHORT_LIVED", {
      value: "short-lived-value-1",
      expiresAt: fromNow(MINUTE),
    });
    await call(editor, "PUT", "/vaults/expiry/secrets/SHORT_LIVED", {
      value: "short-lived-value-2",
    });
    assert.equal((await call(viewer, "GET", "/vaults/expiry/secrets/SHORT_LIVED")).statusCode, 200);
    t.clock.advance(MINUTE + 1_000);
    for (const url of [
      "/vaults/expiry/secrets/SHORT_LIVED",
      "/vaults/expiry/secrets/SHORT_LIVED/versions/1",
      "/vaults/expiry/secrets/SHORT_LIVED/versions/2",
    ]) {
      const response = await call(viewer, "GET", url);
      assertExpired(response);
      assert.ok(!response.body.includes("short-lived-value"), url);
      assert.match(JSON.parse(response.body).detail, /expiry\/SHORT_LIVED expired at /);
    }
    // A version that never existed is still a 404, not a 410.
    assert.equal(
      (await call(viewer, "GET", "/vaults/expiry/secrets/SHORT_LIVED/versions/9")).statusCode,
      404,
    );
    const denied = (await eventsFor("SHORT_LIVED")).filter((e) => e.outcome === "denied");
    assert.deepEqual(
      denied.map((e) => [e.action, e.actor_name, e.details.reason, e.details.version]),
      [
        ["secret.reveal", "exp_viewer", "expired", 2],
        ["secret.reveal-version", "exp_viewer", "expired", 1],
        ["secret.reveal-version", "exp_viewer", "expired", 2],
      ],
    );
    const metadata = await call(viewer, "GET", "/vaults/expiry/secrets/SHORT_LIVED/versions");
    assert.equal(metadata.statusCode, 200);
    const listed = JSON.parse((await call(viewer, "GET", "/vaults/expiry/secrets")).body);
    assert.ok(listed.secrets.some((s: { name: string }) => s.name === "SHORT_LIVED"));
    // Outsiders still learn nothing: 404, as for a secret that does not exist.
    assert.equal(
      (await call(outsider, "GET", "/vaults/expiry/secrets/SHORT_LIVED")).statusCode,
      404,
    );
  });

  it("writing a new value needs a new expiry (409 otherwise); restore is refused alike", async () => {
    await call(editor, "PUT", "/vaults/expiry/secrets/ROTATE", {
      value: "old-value",
      expiresAt: fromNow(MINUTE),
    });
    t.clock.advance(MINUTE + 1_000);
    const before = await row("ROTATE");
    const plain = await call(editor, "PUT", "/vaults/expiry/secrets/ROTATE", { value: "new" });
    assert.equal(plain.statusCode, 409, plain.body);
    assert.match(JSON.parse(plain.body).detail, /expired at .*new expiresAt/);
    const restore = await call(editor, "POST", "/vaults/expiry/secrets/ROTATE/versions/1/restore");
    assert.equal(restore.statusCode, 409, restore.body);
    assert.deepEqual(await row("ROTATE"), before);
    assertExpired(await call(viewer, "GET", "/vaults/expiry/secrets/ROTATE"));

    const rotated = await call(editor, "PUT", "/vaults/expiry/secrets/ROTATE", {
      value: "new-value",
      expiresAt: fromNow(30 * DAY),
    });
    assert.equal(rotated.statusCode, 200, rotated.body);
    const read = await call(viewer, "GET", "/vaults/expiry/secrets/ROTATE");
    assert.equal(JSON.parse(read.body).value, "new-value");
  });

  it("only owners extend (PATCH): the old value is revealable again; audited", async () => {
    await call(editor, "PUT", "/vaults/expiry/secrets/EXTEND", {
      value: "extend-me",
      expiresAt: fromNow(MINUTE),
    });
    t.clock.advance(MINUTE + 1_000);
    const before = await row("EXTEND");
    const later = fromNow(7 * DAY);
    for (const [who, status] of [
      [editor, 403],
      [viewer, 403],
      [outsider, 404],
    ] as const) {
      assert.equal(
        (await call(who, "PATCH", "/vaults/expiry/secrets/EXTEND", { expiresAt: later }))
          .statusCode,
        status,
      );
    }
    for (const body of [
      { expiresAt: fromNow(-MINUTE) },
      { expiresAt: "soon" },
      {},
      { expiresAt: later, value: "sneaky" },
    ]) {
      const response = await call(owner, "PATCH", "/vaults/expiry/secrets/EXTEND", body);
      assert.equal(response.statusCode, 400, JSON.stringify(body));
    }
    assert.deepEqual(await row("EXTEND"), before);
    assert.equal(
      (await call(owner, "PATCH", "/vaults/expiry/secrets/NO_SUCH", { expiresAt: later }))
        .statusCode,
      404,
    );

    const extended = await call(owner, "PATCH", "/vaults/expiry/secrets/EXTEND", {
      expiresAt: later,
    });
    assert.equal(extended.statusCode, 200, extended.body);
    assert.equal(JSON.parse(extended.body).expiresAt, later);
    assert.equal(JSON.parse(extended.body).version, 1, "no new version");
    const read = await call(viewer, "GET", "/vaults/expiry/secrets/EXTEND");
    assert.equal(JSON.parse(read.body).value, "extend-me");
    const expiryEvents = (await eventsFor("EXTEND")).filter((e) => e.action === "secret.expiry");
    assert.equal(expiryEvents.length, 1);
    assert.equal(expiryEvents[0]?.details.expiresAt, later);
    assert.equal(expiryEvents[0]?.actor_name, "exp_owner");

    const never = await call(owner, "PATCH", "/vaults/expiry/secrets/EXTEND", { expiresAt: null });
    assert.equal(JSON.parse(never.body).expiresAt, null);
  });

  it("PATCH honours If-Match: an expiry decided on a value since replaced is refused (412)", async () => {
    await call(editor, "PUT", "/vaults/expiry/secrets/RACED", { value: "first" });
    const seen = await call(owner, "GET", "/vaults/expiry/secrets/RACED");
    const etag = seen.headers.etag;
    assert.equal(etag, '"1"');
    // Meanwhile an editor writes a new value.
    await call(editor, "PUT", "/vaults/expiry/secrets/RACED", { value: "second" });
    const before = await row("RACED");
    const patch = (ifMatch: string) =>
      t.app.inject({
        method: "PATCH",
        url: "/api/v1/vaults/expiry/secrets/RACED",
        headers: { ...asSession(owner), "if-match": ifMatch },
        payload: { expiresAt: fromNow(DAY) },
      });
    const stale = await patch(String(etag));
    assert.equal(stale.statusCode, 412, stale.body);
    assert.match(String(stale.headers["content-type"]), /problem\+json/);
    assert.equal(stale.headers.etag, '"2"', "the current version, to retry knowingly");
    assert.deepEqual(await row("RACED"), before, "nothing changed");
    assert.equal(
      (await eventsFor("RACED")).filter((e) => e.action === "secret.expiry").length,
      0,
      "nothing audited as done",
    );
    const current = await patch('"2"');
    assert.equal(current.statusCode, 200, current.body);
    assert.equal(current.headers.etag, '"2"');
    assert.equal((await row("RACED"))?.current_version, 2, "still no new version");
    assert.equal((await patch("*")).statusCode, 200);
  });

  it("editors and owners can still delete an expired secret", async () => {
    await call(editor, "PUT", "/vaults/expiry/secrets/DOOMED", {
      value: "gone",
      expiresAt: fromNow(MINUTE),
    });
    t.clock.advance(MINUTE + 1_000);
    assert.equal((await call(editor, "DELETE", "/vaults/expiry/secrets/DOOMED")).statusCode, 204);
    assert.equal(await row("DOOMED"), undefined);
  });
});

describe("?expiringWithinDays", () => {
  it("lists only what expires within N days, the expired included, never the undated", async () => {
    await call(owner, "POST", "/vaults", { slug: "expiry-report" });
    const put = (name: string, expiresAt?: string) =>
      call(owner, "PUT", `/vaults/expiry-report/secrets/${name}`, {
        value: "v",
        ...(expiresAt === undefined ? {} : { expiresAt }),
      });
    await put("GONE_SOON", fromNow(MINUTE));
    await put("IN_TWO_DAYS", fromNow(2 * DAY));
    await put("IN_TEN_DAYS", fromNow(10 * DAY));
    await put("UNDATED");
    t.clock.advance(MINUTE + 1_000);
    const names = async (query: string) =>
      JSON.parse(
        (await call(owner, "GET", `/vaults/expiry-report/secrets${query}`)).body,
      ).secrets.map((s: { name: string }) => s.name);
    assert.deepEqual(await names("?expiringWithinDays=0"), ["GONE_SOON"]);
    assert.deepEqual(await names("?expiringWithinDays=3"), ["GONE_SOON", "IN_TWO_DAYS"]);
    assert.deepEqual(await names("?expiringWithinDays=30"), [
      "GONE_SOON",
      "IN_TEN_DAYS",
      "IN_TWO_DAYS",
    ]);
    assert.deepEqual(await names(""), ["GONE_SOON", "IN_TEN_DAYS", "IN_TWO_DAYS", "UNDATED"]);
    assert.deepEqual(await names("?expiringWithinDays=30&q=two"), ["IN_TWO_DAYS"]);
    // Paginated like the plain list.
    const first = JSON.parse(
      (await call(owner, "GET", "/vaults/expiry-report/secrets?expiringWithinDays=30&limit=2"))
        .body,
    );
    assert.equal(first.secrets.length, 2);
    const second = JSON.parse(
      (
        await call(
          owner,
          "GET",
          `/vaults/expiry-report/secrets?expiringWithinDays=30&limit=2&cursor=${encodeURIComponent(first.nextCursor)}`,
        )
      ).body,
    );
    assert.deepEqual(
      second.secrets.map((s: { name: string }) => s.name),
      ["IN_TWO_DAYS"],
    );
    for (const bad of ["-1", "3651", "x", "1.5"]) {
      const response = await call(
        owner,
        "GET",
        `/vaults/expiry-report/secrets?expiringWithinDays=${bad}`,
      );
      assert.equal(response.statusCode, 400, bad);
    }
  });
});

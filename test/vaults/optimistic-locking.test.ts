/**
 * Rollback and optimistic locking (issue 10, item 6): `ETag: "<version>"` on reads and
 * writes, `If-Match` / `If-None-Match: *` on PUT and restore (412 and nothing written on a
 * mismatch), and restore as a new version in one audited transaction. Runs on the test
 * engine (PostgreSQL under TEST_ENGINE=postgres).
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

before(async () => {
  t = await createTestApp();
  for (const username of ["lock_owner", "lock_editor", "lock_viewer", "lock_outsider"])
    await createTestUser(t, { username });
  owner = await signIn(t, "lock_owner");
  editor = await signIn(t, "lock_editor");
  viewer = await signIn(t, "lock_viewer");
  outsider = await signIn(t, "lock_outsider");
  assert.equal((await call(owner, "POST", "/vaults", { slug: "locks" })).statusCode, 201);
  await call(owner, "PUT", "/vaults/locks/members/lock_editor", { role: "editor" });
  await call(owner, "PUT", "/vaults/locks/members/lock_viewer", { role: "viewer" });
});
after(async () => {
  await t.close();
});

function call(
  session: SignedIn,
  method: "GET" | "POST" | "PUT" | "DELETE",
  url: string,
  payload?: unknown,
  headers: Record<string, string> = {},
) {
  return t.app.inject({
    method,
    url: `/api/v1${url}`,
    headers: { ...asSession(session), ...headers },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

/** What the database holds for a secret: its version, its version rows, and its audit events. */
async function stateOf(name: string) {
  const secret = await t.database.db
    .selectFrom("secrets")
    .select(["id", "current_version"])
    .where("name", "=", name)
    .executeTakeFirst();
  const versions =
    secret === undefined
      ? []
      : (
          await t.database.db
            .selectFrom("secret_versions")
            .select("version")
            .where("secret_id", "=", secret.id)
            .orderBy("version")
            .execute()
        ).map((row) => row.version);
  const events = await t.database.db
    .selectFrom("audit_events")
    .select(["action", "details"])
    .where("target", "=", `locks/${name}`)
    .orderBy("seq")
    .execute();
  return { version: secret?.current_version ?? null, versions, events };
}

async function currentValue(name: string): Promise<string> {
  const response = await call(viewer, "GET", `/vaults/locks/secrets/${name}`);
  assert.equal(response.statusCode, 200, response.body);
  return JSON.parse(response.body).value as string;
}

function assertPreconditionFailed(
  response: Awaited<ReturnType<typeof call>>,
  currentVersion: number | null,
): void {
  assert.equal(response.statusCode, 412, response.body);
  assert.match(String(response.headers["content-type"]), /^application\/problem\+json/);
  const problem = JSON.parse(response.body);
  assert.ok(problem.type.endsWith("#precondition-failed"), problem.type);
  assert.equal(problem.status, 412);
  assert.equal(
    response.headers.etag,
    currentVersion === null ? undefined : `"${currentVersion}"`,
    "the current ETag, to merge and retry knowingly",
  );
}

describe("ETag", () => {
  it("GET, PUT and restore answer with the version as a strong ETag", async () => {
    const created = await call(editor, "PUT", "/vaults/locks/secrets/TAGGED", { value: "t1" });
    assert.equal(created.statusCode, 201);
    assert.equal(created.headers.etag, '"1"');
    const read = await call(viewer, "GET", "/vaults/locks/secrets/TAGGED");
    assert.equal(read.headers.etag, '"1"');
    assert.equal(JSON.parse(read.body).version, 1);
    const updated = await call(editor, "PUT", "/vaults/locks/secrets/TAGGED", { value: "t2" });
    assert.equal(updated.headers.etag, '"2"');
    const restored = await call(editor, "POST", "/vaults/locks/secrets/TAGGED/versions/1/restore");
    assert.equal(restored.statusCode, 201);
    assert.equal(restored.headers.etag, '"3"');
    assert.equal((await call(viewer, "GET", "/vaults/locks/secrets/TAGGED")).headers.etag, '"3"');
  });
});

describe("PUT with If-Match", () => {
  it("writes when If-Match names the current version", async () => {
    await call(editor, "PUT", "/vaults/locks/secrets/MATCHED", { value: "m1" });
    const etag = String((await call(viewer, "GET", "/vaults/locks/secrets/MATCHED")).headers.etag);
    const response = await call(
      editor,
      "PUT",
      "/vaults/locks/secrets/MATCHED",
      { value: "m2" },
      { "if-match": etag },
    );
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(JSON.parse(response.body).version, 2);
    assert.equal(await currentValue("MATCHED"), "m2");
  });

  it("answers 412 on a stale version and writes nothing: no version, no value, no audit event", async () => {
    await call(editor, "PUT", "/vaults/locks/secrets/STALE", { value: "s1" });
    await call(owner, "PUT", "/vaults/locks/secrets/STALE", { value: "s2-by-owner" });
    const before = await stateOf("STALE");
    const response = await call(
      editor,
      "PUT",
      "/vaults/locks/secrets/STALE",
      { value: "s2-by-editor", note: "would overwrite" },
      { "if-match": '"1"' },
    );
    assertPreconditionFailed(response, 2);
    assert.match(JSON.parse(response.body).detail, /version 2/);
    assert.deepEqual(await stateOf("STALE"), before);
    assert.equal(await currentValue("STALE"), "s2-by-owner");
  });

  it("matches any tag of a list, and never a weak tag or one that is no version", async () => {
    await call(editor, "PUT", "/vaults/locks/secrets/LISTED", { value: "l1" });
    await call(editor, "PUT", "/vaults/locks/secrets/LISTED", { value: "l2" });
    for (const header of ['W/"2"', '"02"', '"two"', '""', '"1", W/"2"']) {
      const before = await stateOf("LISTED");
      assertPreconditionFailed(
        await call(
          editor,
          "PUT",
          "/vaults/locks/secrets/LISTED",
          { value: "never" },
          { "if-match": header },
        ),
        2,
      );
      assert.deepEqual(await stateOf("LISTED"), before, header);
    }
    const response = await call(
      editor,
      "PUT",
      "/vaults/locks/secrets/LISTED",
      { value: "l3" },
      { "if-match": '"7", "2"' },
    );
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(await currentValue("LISTED"), "l3");
  });

  it("If-Match on a secret that does not exist is 412 and creates nothing", async () => {
    for (const header of ['"1"', "*"]) {
      assertPreconditionFailed(
        await call(
          editor,
          "PUT",
          "/vaults/locks/secrets/NOT_YET",
          { value: "nope" },
          { "if-match": header },
        ),
        null,
      );
      assert.deepEqual(await stateOf("NOT_YET"), { version: null, versions: [], events: [] });
    }
  });

  it("If-Match: * updates an existing secret at any version", async () => {
    await call(editor, "PUT", "/vaults/locks/secrets/STARRED", { value: "a" });
    await call(editor, "PUT", "/vaults/locks/secrets/STARRED", { value: "b" });
    const response = await call(
      editor,
      "PUT",
      "/vaults/locks/secrets/STARRED",
      { value: "c" },
      { "if-match": "*" },
    );
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(JSON.parse(response.body).version, 3);
  });

  it("If-None-Match: * creates only: 201 for a new name, 412 for an existing one", async () => {
    const created = await call(
      editor,
      "PUT",
      "/vaults/locks/secrets/FRESH",
      { value: "first" },
      { "if-none-match": "*" },
    );
    assert.equal(created.statusCode, 201, created.body);
    const before = await stateOf("FRESH");
    assertPreconditionFailed(
      await call(
        owner,
        "PUT",
        "/vaults/locks/secrets/FRESH",
        { value: "second" },
        { "if-none-match": "*" },
      ),
      1,
    );
    assert.deepEqual(await stateOf("FRESH"), before);
    assert.equal(await currentValue("FRESH"), "first");
  });

  it("refuses a malformed If-Match or If-None-Match with 400 and writes nothing", async () => {
    await call(editor, "PUT", "/vaults/locks/secrets/MALFORMED", { value: "kept" });
    const before = await stateOf("MALFORMED");
    for (const headers of [
      { "if-match": "1" } as Record<string, string>,
      { "if-match": '"1", *' },
      { "if-match": '"1' },
      { "if-match": `"${"1".repeat(2000)}"` },
      { "if-none-match": '"1"' },
    ]) {
      const response = await call(
        editor,
        "PUT",
        "/vaults/locks/secrets/MALFORMED",
        { value: "changed" },
        headers,
      );
      assert.equal(response.statusCode, 400, JSON.stringify(headers));
      const problem = JSON.parse(response.body);
      assert.ok(problem.type.endsWith("#validation-failed"));
      assert.match(problem.errors[0].path, /^headers\.if-(none-)?match$/);
    }
    assert.deepEqual(await stateOf("MALFORMED"), before);
  });

  it("of two editors who read the same version, exactly one writes; the other gets 412", async () => {
    await call(editor, "PUT", "/vaults/locks/secrets/RACED", { value: "base" });
    const results = await Promise.all(
      [editor, owner, editor, owner].map((who, i) =>
        call(
          who,
          "PUT",
          "/vaults/locks/secrets/RACED",
          { value: `racer-${i}` },
          { "if-match": '"1"' },
        ),
      ),
    );
    const statuses = results.map((r) => r.statusCode).sort();
    assert.deepEqual(statuses, [200, 412, 412, 412]);
    const state = await stateOf("RACED");
    assert.equal(state.version, 2);
    assert.deepEqual(state.versions, [1, 2]);
    const winner = results.findIndex((r) => r.statusCode === 200);
    assert.equal(await currentValue("RACED"), `racer-${winner}`);
  });

  it("checks who may write before the precondition: a viewer gets 403, an outsider 404", async () => {
    await call(editor, "PUT", "/vaults/locks/secrets/GUARDED", { value: "g" });
    const before = await stateOf("GUARDED");
    for (const header of ['"1"', '"9"']) {
      assert.equal(
        (
          await call(
            viewer,
            "PUT",
            "/vaults/locks/secrets/GUARDED",
            { value: "x" },
            { "if-match": header },
          )
        ).statusCode,
        403,
      );
      assert.equal(
        (
          await call(
            outsider,
            "PUT",
            "/vaults/locks/secrets/GUARDED",
            { value: "x" },
            { "if-match": header },
          )
        ).statusCode,
        404,
      );
    }
    assert.deepEqual(await stateOf("GUARDED"), before);
  });
});

describe("restore", () => {
  it("makes a new version with the old value and note, audited once as secret.restore", async () => {
    await call(editor, "PUT", "/vaults/locks/secrets/ROLLBACK", {
      value: "good",
      note: "known good",
    });
    await call(editor, "PUT", "/vaults/locks/secrets/ROLLBACK", { value: "broken" });
    const eventsBefore = (await stateOf("ROLLBACK")).events.length;
    const response = await call(
      editor,
      "POST",
      "/vaults/locks/secrets/ROLLBACK/versions/1/restore",
    );
    assert.equal(response.statusCode, 201, response.body);
    const body = JSON.parse(response.body);
    assert.equal(body.version, 3);
    assert.equal(body.name, "ROLLBACK");
    assert.ok(!response.body.includes("good"), "the restore answer carries no value");
    const current = JSON.parse((await call(viewer, "GET", "/vaults/locks/secrets/ROLLBACK")).body);
    assert.deepEqual([current.value, current.note, current.version], ["good", "known good", 3]);
    const state = await stateOf("ROLLBACK");
    assert.deepEqual(state.versions, [1, 2, 3]);
    const added = state.events.slice(eventsBefore).map((e) => e.action);
    // The restore itself, then the viewer's reveal above: the restore reveals nothing.
    assert.deepEqual(added, ["secret.restore", "secret.reveal"]);
    const restoreEvent = state.events[eventsBefore];
    const details =
      typeof restoreEvent?.details === "string"
        ? JSON.parse(restoreEvent.details)
        : restoreEvent?.details;
    assert.deepEqual(details, { from: 1, version: 3 });
  });

  it("honours If-Match: 412 and nothing written when the secret moved on", async () => {
    await call(editor, "PUT", "/vaults/locks/secrets/RESTORE_RACE", { value: "r1" });
    await call(editor, "PUT", "/vaults/locks/secrets/RESTORE_RACE", { value: "r2" });
    await call(owner, "PUT", "/vaults/locks/secrets/RESTORE_RACE", { value: "r3-by-owner" });
    const before = await stateOf("RESTORE_RACE");
    assertPreconditionFailed(
      await call(
        editor,
        "POST",
        "/vaults/locks/secrets/RESTORE_RACE/versions/1/restore",
        undefined,
        { "if-match": '"2"' },
      ),
      3,
    );
    assert.deepEqual(await stateOf("RESTORE_RACE"), before);
    const ok = await call(
      editor,
      "POST",
      "/vaults/locks/secrets/RESTORE_RACE/versions/1/restore",
      undefined,
      { "if-match": '"3"' },
    );
    assert.equal(ok.statusCode, 201, ok.body);
    assert.equal(await currentValue("RESTORE_RACE"), "r1");
  });

  it("404 for a version that does not exist or was shredded, a secret that does not exist; 403 for a viewer", async () => {
    await call(editor, "PUT", "/vaults/locks/secrets/SHORT", { value: "only" });
    const before = await stateOf("SHORT");
    for (const url of [
      "/vaults/locks/secrets/SHORT/versions/2/restore",
      "/vaults/locks/secrets/NO_SUCH/versions/1/restore",
    ]) {
      const response = await call(editor, "POST", url);
      assert.equal(response.statusCode, 404, url);
      assert.ok(JSON.parse(response.body).type.endsWith("#not-found"));
    }
    assert.equal(
      (await call(viewer, "POST", "/vaults/locks/secrets/SHORT/versions/1/restore")).statusCode,
      403,
    );
    assert.equal(
      (await call(outsider, "POST", "/vaults/locks/secrets/SHORT/versions/1/restore")).statusCode,
      404,
    );
    assert.equal(
      (await call(editor, "POST", "/vaults/locks/secrets/SHORT/versions/0/restore")).statusCode,
      400,
    );
    assert.deepEqual(await stateOf("SHORT"), before);
  });

  it("keeps the newest 20 versions when a restore adds the 21st", async () => {
    for (let i = 1; i <= 20; i++)
      await call(editor, "PUT", "/vaults/locks/secrets/FULL", { value: `full-${i}` });
    const response = await call(editor, "POST", "/vaults/locks/secrets/FULL/versions/1/restore");
    assert.equal(response.statusCode, 201, response.body);
    const state = await stateOf("FULL");
    assert.equal(state.version, 21);
    assert.deepEqual(
      state.versions,
      Array.from({ length: 20 }, (_, i) => i + 2),
    );
    assert.equal(await currentValue("FULL"), "full-1");
  });
});

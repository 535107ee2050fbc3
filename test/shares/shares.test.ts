// One-time share links over the API, on the test engine (TEST_ENGINE=postgres for PostgreSQL):
// rights, bounds, views and burning (also under concurrent opens), expiry, revocation, the
// audit trail, and fail-closed auditing for creation and views.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { verifyAuditChain } from "../../src/audit/index.js";
import { shareHandle, shareReference } from "../../src/shares/shares.service.js";
import { createApiToken } from "../../src/tokens/tokens.service.js";
import type { SignedIn } from "../helpers/accounts.js";
import { asSession, createTestUser, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
let owner: SignedIn;
let editor: SignedIn;
let viewer: SignedIn;
let outsider: SignedIn;
let writeToken: string;
let readToken: string;

type Method = "GET" | "POST" | "PUT" | "DELETE";

function call(who: SignedIn | string | null, method: Method, url: string, payload?: unknown) {
  const headers =
    who === null
      ? {}
      : typeof who === "string"
        ? { authorization: `Bearer ${who}` }
        : asSession(who);
  return t.app.inject({
    method,
    url: `/api/v1${url}`,
    headers,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

/** Stands in for the browser's ciphertext: random bytes the server cannot tell apart. */
function fakeCiphertext(bytes = 64): string {
  return randomBytes(bytes).toString("base64url");
}

async function createLink(
  who: SignedIn | string = editor,
  body: Record<string, unknown> = {},
  secret = "API_KEY",
): Promise<{ id: string; url: string; ciphertext: string; maxViews: number; expiresAt: string }> {
  const ciphertext = fakeCiphertext();
  const response = await call(who, "POST", `/vaults/team/secrets/${secret}/shares`, {
    ciphertext,
    ...body,
  });
  assert.equal(response.statusCode, 201, response.body);
  return { ...JSON.parse(response.body).share, ciphertext };
}

function open(id: string, address = "203.0.113.7") {
  return t.app.inject({ method: "GET", url: `/api/v1/shares/${id}`, remoteAddress: address });
}

async function auditActions(action: string): Promise<Array<{ target: string; details: string }>> {
  return (await t.database.db
    .selectFrom("audit_events")
    .select(["target", "details"])
    .where("action", "=", action)
    .orderBy("seq")
    .execute()) as Array<{ target: string; details: string }>;
}

before(async () => {
  t = await createTestApp();
  const owners = await createTestUser(t, { username: "share_owner" });
  await createTestUser(t, { username: "share_editor" });
  await createTestUser(t, { username: "share_viewer" });
  await createTestUser(t, { username: "share_outsider" });
  owner = await signIn(t, "share_owner");
  editor = await signIn(t, "share_editor");
  viewer = await signIn(t, "share_viewer");
  outsider = await signIn(t, "share_outsider");
  assert.equal((await call(owner, "POST", "/vaults", { slug: "team" })).statusCode, 201);
  assert.equal((await call(outsider, "POST", "/vaults", { slug: "other" })).statusCode, 201);
  await call(owner, "PUT", "/vaults/team/members/share_editor", { role: "editor" });
  await call(owner, "PUT", "/vaults/team/members/share_viewer", { role: "viewer" });
  await call(owner, "PUT", "/vaults/team/secrets/API_KEY", { value: "the-shared-value" });
  await call(owner, "PUT", "/vaults/team/secrets/OTHER", { value: "other-value" });
  const token = (permission: "read" | "write") =>
    createApiToken(t.database.db, {
      userId: owners.id,
      username: "share_owner",
      name: `shares-${permission}`,
      scopes: [{ vault: "team", permission }],
      expiresInDays: 30,
      now: t.clock.now(),
      address: "127.0.0.1",
    });
  writeToken = (await token("write")).token;
  readToken = (await token("read")).token;
});
after(async () => {
  await t.close();
});

describe("creating share links", () => {
  it("lets editors, owners and write tokens create; not viewers, read tokens or outsiders", async () => {
    const body = { ciphertext: fakeCiphertext() };
    const url = "/vaults/team/secrets/API_KEY/shares";
    assert.equal((await call(editor, "POST", url, body)).statusCode, 201);
    assert.equal((await call(owner, "POST", url, body)).statusCode, 201);
    assert.equal((await call(writeToken, "POST", url, body)).statusCode, 201);
    assert.equal((await call(viewer, "POST", url, body)).statusCode, 403);
    assert.equal((await call(readToken, "POST", url, body)).statusCode, 403);
    // Outsiders learn nothing about the vault: the same 404 as a vault that does not exist.
    const hidden = await call(outsider, "POST", url, body);
    assert.equal(hidden.statusCode, 404);
    assert.deepEqual(
      JSON.parse(hidden.body).type,
      JSON.parse((await call(outsider, "POST", "/vaults/nope/secrets/API_KEY/shares", body)).body)
        .type,
    );
    assert.equal((await call(null, "POST", url, body)).statusCode, 401);
    // A secret that does not exist has no links.
    assert.equal(
      (await call(editor, "POST", "/vaults/team/secrets/MISSING/shares", body)).statusCode,
      404,
    );
  });

  it("answers an unguessable id, the link without its key, and the defaults (1 view, 24 h)", async () => {
    const link = await createLink();
    assert.match(link.id, /^[A-Za-z0-9_-]{32}$/);
    assert.equal(link.url, new URL(`/s/${link.id}`, t.config.publicUrl).href);
    assert.equal(link.maxViews, 1);
    const hours = (Date.parse(link.expiresAt) - t.clock.now().getTime()) / 3_600_000;
    assert.ok(hours > 23.9 && hours <= 24, `${hours}`);
  });

  it("refuses views and lifetimes out of bounds, and malformed or oversized ciphertext", async () => {
    const url = "/vaults/team/secrets/API_KEY/shares";
    for (const body of [
      { ciphertext: fakeCiphertext(), maxViews: 0 },
      { ciphertext: fakeCiphertext(), maxViews: 101 },
      { ciphertext: fakeCiphertext(), maxViews: 1.5 },
      { ciphertext: fakeCiphertext(), expiresInMinutes: 0 },
      { ciphertext: fakeCiphertext(), expiresInMinutes: 7 * 24 * 60 + 1 },
      { ciphertext: "not base64url!" },
      { ciphertext: "abc" },
      { ciphertext: fakeCiphertext(66 * 1024 + 1) },
      { ciphertext: fakeCiphertext(), extra: true },
      {},
    ]) {
      const response = await call(editor, "POST", url, body);
      assert.equal(response.statusCode, response.statusCode === 413 ? 413 : 400, response.body);
      assert.match(response.headers["content-type"] as string, /problem\+json/);
    }
    const longest = await createLink(editor, { maxViews: 100, expiresInMinutes: 7 * 24 * 60 });
    assert.equal(longest.maxViews, 100);
  });

  it("audits the creation without the ciphertext", async () => {
    const link = await createLink(editor, { maxViews: 2 });
    const events = await auditActions("share.create");
    const mine = events.find((e) => e.details.includes(shareReference(shareHandle(link.id))));
    assert.ok(mine);
    assert.equal(mine.target, "team/API_KEY");
    assert.ok(!mine.details.includes(link.id), "the link id (a credential) is not logged");
    assert.ok(!mine.details.includes(link.ciphertext));
  });
});

describe("opening share links", () => {
  it("needs no credentials, returns the ciphertext once, no-store, then 404", async () => {
    const link = await createLink();
    const first = await open(link.id);
    assert.equal(first.statusCode, 200, first.body);
    assert.equal(first.headers["cache-control"], "no-store");
    const body = JSON.parse(first.body);
    assert.equal(body.ciphertext, link.ciphertext);
    assert.equal(body.viewsLeft, 0);
    const second = await open(link.id);
    assert.equal(second.statusCode, 404);
    assert.match(second.headers["content-type"] as string, /problem\+json/);
    assert.ok(!second.body.includes(link.ciphertext));
    // The row and its ciphertext are gone.
    const rows = await t.database.db
      .selectFrom("shares")
      .select("id")
      .where("id", "=", shareHandle(link.id))
      .execute();
    assert.equal(rows.length, 0);
  });

  it("gives a one-view link to exactly one of many concurrent opens", async () => {
    for (let round = 0; round < 3; round++) {
      const link = await createLink();
      const responses = await Promise.all(
        Array.from({ length: 8 }, (_, n) => open(link.id, `198.51.100.${n + 1}`)),
      );
      const statuses = responses.map((r) => r.statusCode).sort();
      assert.deepEqual(statuses, [200, 404, 404, 404, 404, 404, 404, 404]);
    }
  });

  it("counts down a several-view link and burns it with the last view", async () => {
    const link = await createLink(editor, { maxViews: 3 });
    const responses = await Promise.all([
      open(link.id),
      open(link.id),
      open(link.id),
      open(link.id),
    ]);
    const ok = responses.filter((r) => r.statusCode === 200);
    assert.equal(ok.length, 3);
    assert.deepEqual(ok.map((r) => JSON.parse(r.body).viewsLeft).sort(), [0, 1, 2]);
    assert.equal(responses.filter((r) => r.statusCode === 404).length, 1);
    const views = (await auditActions("share.view")).filter((e) =>
      e.details.includes(shareReference(shareHandle(link.id))),
    );
    assert.equal(views.length, 3);
    const burns = (await auditActions("share.burn")).filter((e) =>
      e.details.includes(shareReference(shareHandle(link.id))),
    );
    assert.equal(burns.length, 1);
    assert.equal(burns[0]?.target, "team/API_KEY");
    assert.equal((await verifyAuditChain(t.database.db)).ok, true);
  });

  it("answers 410 once expired, deletes it, and 404 after that", async () => {
    const link = await createLink(editor, { expiresInMinutes: 5, maxViews: 5 });
    t.clock.advance(4 * 60_000);
    assert.equal((await open(link.id)).statusCode, 200);
    t.clock.advance(60_000);
    const expired = await open(link.id);
    assert.equal(expired.statusCode, 410);
    assert.match(JSON.parse(expired.body).type, /share-gone$/);
    assert.ok(!expired.body.includes(link.ciphertext));
    assert.equal((await open(link.id)).statusCode, 404);
    const events = (await auditActions("share.expire")).filter((e) =>
      e.details.includes(shareReference(shareHandle(link.id))),
    );
    assert.equal(events.length, 1);
  });

  it("purges links that expired unopened when the next link is made", async () => {
    const link = await createLink(editor, { expiresInMinutes: 1 });
    t.clock.advance(2 * 60_000);
    await createLink();
    const rows = await t.database.db
      .selectFrom("shares")
      .select("id")
      .where("id", "=", shareHandle(link.id))
      .execute();
    assert.equal(rows.length, 0);
  });

  it("keeps link ids (credentials) out of the log", async () => {
    const link = await createLink();
    await open(link.id);
    await call(editor, "DELETE", `/shares/${link.id}`);
    const lines = t.logs.join("\n");
    assert.ok(lines.includes("/api/v1/shares/[redacted]"));
    assert.ok(!lines.includes(link.id));
    assert.ok(!lines.includes(link.ciphertext));
  });

  it("404s an unknown or malformed id", async () => {
    assert.equal((await open(randomBytes(24).toString("base64url"))).statusCode, 404);
    assert.equal((await open("short")).statusCode, 400);
  });

  it("throttles opens per address (429 with Retry-After), not other addresses", async () => {
    const address = "192.0.2.99";
    const unknown = randomBytes(24).toString("base64url");
    let last = await open(unknown, address);
    for (let n = 0; n < 40 && last.statusCode !== 429; n++) last = await open(unknown, address);
    assert.equal(last.statusCode, 429);
    assert.ok(Number(last.headers["retry-after"]) >= 1);
    assert.equal((await open(unknown, "192.0.2.100")).statusCode, 404);
  });
});

describe("listing and revoking share links", () => {
  it("lists an editor's own links and every link to an owner, without ciphertext", async () => {
    const mine = await createLink(editor, {}, "OTHER");
    const owners = await createLink(owner, {}, "OTHER");
    const list = async (who: SignedIn) => {
      const response = await call(who, "GET", "/vaults/team/secrets/OTHER/shares");
      assert.equal(response.statusCode, 200, response.body);
      assert.ok(!response.body.includes(mine.ciphertext));
      // Listings name links by handle: the ids (credentials) are nowhere but in the creation answer.
      for (const link of [mine, owners]) assert.ok(!response.body.includes(link.id));
      const shares = JSON.parse(response.body).shares as Array<{ id: string; url?: string }>;
      assert.ok(shares.every((share) => share.url === undefined));
      return shares.map((share) => share.id);
    };
    assert.deepEqual(await list(editor), [shareHandle(mine.id)]);
    assert.deepEqual(
      (await list(owner)).sort(),
      [shareHandle(mine.id), shareHandle(owners.id)].sort(),
    );
    assert.equal((await call(viewer, "GET", "/vaults/team/secrets/OTHER/shares")).statusCode, 403);
    assert.equal(
      (await call(outsider, "GET", "/vaults/team/secrets/OTHER/shares")).statusCode,
      404,
    );
  });

  it("stores only the hash of a link's id; the handle revokes but cannot open", async () => {
    const link = await createLink(editor);
    const handle = shareHandle(link.id);
    assert.match(handle, /^[0-9a-f]{64}$/);
    const ids = (await t.database.db.selectFrom("shares").select("id").execute()).map(
      (row) => row.id,
    );
    assert.ok(ids.includes(handle), "the row is found by the hash");
    assert.ok(!ids.includes(link.id), "the id itself is not stored");
    // A reader of the database (or of a listing) holds the handle: it does not open the link.
    const byHandle = await open(handle);
    assert.equal(byHandle.statusCode, 400, byHandle.body);
    assert.equal((await open(handle.slice(0, 32))).statusCode, 404, "nor does a part of it");
    assert.equal((await call(viewer, "DELETE", `/shares/${handle}`)).statusCode, 403);
    assert.equal((await call(editor, "DELETE", `/shares/${handle}`)).statusCode, 204);
    assert.equal((await open(link.id)).statusCode, 404, "revoked by its handle");
    assert.equal(
      (await call(editor, "DELETE", `/shares/${"A".repeat(64)}`)).statusCode,
      400,
      "neither an id nor a handle",
    );
  });

  it("0003_share_handles hashes the ids of links made before it, which keep working", async () => {
    const { migrations } = await import("../../src/db/migrations/index.js");
    const migration = migrations["0003_share_handles"];
    assert.ok(migration?.down);
    const old = await createLink(editor, { maxViews: 2 });
    const later = await createLink(editor);
    // As 0002's rows were: the id itself in the row.
    for (const link of [old, later]) {
      await t.database.db
        .updateTable("shares")
        .set({ id: link.id })
        .where("id", "=", shareHandle(link.id))
        .execute();
    }
    await migration.up(t.database.db);
    const ids = (await t.database.db.selectFrom("shares").select("id").execute()).map(
      (row) => row.id,
    );
    for (const link of [old, later]) {
      assert.ok(ids.includes(shareHandle(link.id)));
      assert.ok(!ids.includes(link.id));
    }
    const opened = await open(old.id);
    assert.equal(opened.statusCode, 200, opened.body);
    assert.equal(JSON.parse(opened.body).ciphertext, old.ciphertext);
    // Going back cannot recover an id from its hash: every link is deleted.
    await migration.down(t.database.db);
    assert.equal((await t.database.db.selectFrom("shares").select("id").execute()).length, 0);
    assert.equal((await open(later.id)).statusCode, 404);
  });

  it("lets the creator and owners revoke; others get 403 (members) or 404", async () => {
    const link = await createLink(editor);
    assert.equal((await call(viewer, "DELETE", `/shares/${link.id}`)).statusCode, 403);
    assert.equal((await call(outsider, "DELETE", `/shares/${link.id}`)).statusCode, 404);
    assert.equal((await call(null, "DELETE", `/shares/${link.id}`)).statusCode, 401);
    assert.equal((await call(editor, "DELETE", `/shares/${link.id}`)).statusCode, 204);
    assert.equal((await open(link.id)).statusCode, 404);
    assert.equal((await call(editor, "DELETE", `/shares/${link.id}`)).statusCode, 404);

    const byOwner = await createLink(editor);
    assert.equal((await call(owner, "DELETE", `/shares/${byOwner.id}`)).statusCode, 204);
    const byOtherEditor = await createLink(owner);
    assert.equal((await call(editor, "DELETE", `/shares/${byOtherEditor.id}`)).statusCode, 403);
    const revocations = (await auditActions("share.revoke")).filter(
      (e) =>
        e.details.includes(shareReference(shareHandle(link.id))) ||
        e.details.includes(shareReference(shareHandle(byOwner.id))),
    );
    assert.equal(revocations.length, 2);
  });

  it("revokes every link to a secret when the secret is deleted", async () => {
    await call(owner, "PUT", "/vaults/team/secrets/DOOMED", { value: "doomed" });
    const link = await createLink(editor, {}, "DOOMED");
    assert.equal((await call(owner, "DELETE", "/vaults/team/secrets/DOOMED")).statusCode, 204);
    assert.equal((await open(link.id)).statusCode, 404);
  });
});

describe("fail-closed auditing of share links", () => {
  async function withoutAuditTable<T>(work: () => Promise<T>): Promise<T> {
    await sql`alter table audit_events rename to audit_events_away`.execute(t.database.db);
    try {
      return await work();
    } finally {
      await sql`alter table audit_events_away rename to audit_events`.execute(t.database.db);
    }
  }

  it("hands out no ciphertext and burns no view when the view cannot be audited", async () => {
    const link = await createLink();
    const refused = await withoutAuditTable(() => open(link.id));
    assert.ok(refused.statusCode >= 500, `${refused.statusCode}`);
    assert.match(refused.headers["content-type"] as string, /problem\+json/);
    assert.ok(!refused.body.includes(link.ciphertext));
    // The view was not counted: the link still works once.
    const later = await open(link.id);
    assert.equal(later.statusCode, 200);
    assert.equal(JSON.parse(later.body).ciphertext, link.ciphertext);
  });

  it("stores no link when its creation cannot be audited", async () => {
    const ciphertext = fakeCiphertext();
    const before = await t.database.db
      .selectFrom("shares")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .executeTakeFirstOrThrow();
    const refused = await withoutAuditTable(() =>
      call(editor, "POST", "/vaults/team/secrets/API_KEY/shares", { ciphertext }),
    );
    assert.ok(refused.statusCode >= 500, `${refused.statusCode}`);
    const afterwards = await t.database.db
      .selectFrom("shares")
      .select((eb) => eb.fn.countAll<number | string>().as("n"))
      .executeTakeFirstOrThrow();
    assert.equal(Number(afterwards.n), Number(before.n));
  });

  it("keeps a link when its revocation cannot be audited", async () => {
    const link = await createLink();
    const refused = await withoutAuditTable(() => call(editor, "DELETE", `/shares/${link.id}`));
    assert.ok(refused.statusCode >= 500);
    assert.equal((await call(editor, "DELETE", `/shares/${link.id}`)).statusCode, 204);
  });
});

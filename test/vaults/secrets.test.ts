import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { verifyAuditChain } from "../../src/audit/index.js";
import type { SignedIn } from "../helpers/accounts.js";
import { asSession, createTestUser, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";
import type { TestDatabase } from "../helpers/databases.js";
import { createSqliteDatabase, testDatabaseTargets } from "../helpers/databases.js";

let t: TestApp;
let owner: SignedIn;
let viewer: SignedIn;
let outsider: SignedIn;
before(async () => {
  t = await createTestApp();
  await createTestUser(t, { username: "owner_a" });
  await createTestUser(t, { username: "viewer_a" });
  await createTestUser(t, { username: "owner_b" });
  owner = await signIn(t, "owner_a");
  viewer = await signIn(t, "viewer_a");
  outsider = await signIn(t, "owner_b");
  await call(owner, "POST", "/vaults", { slug: "vault-a" });
  await call(outsider, "POST", "/vaults", { slug: "vault-b" });
  await call(owner, "PUT", "/vaults/vault-a/members/viewer_a", { role: "viewer" });
  await call(outsider, "PUT", "/vaults/vault-b/secrets/B_SECRET", { value: "b-secret-value" });
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

describe("secrets", () => {
  it("creates (201), versions (200), reveals with no-store and an audit event", async () => {
    const created = await call(owner, "PUT", "/vaults/vault-a/secrets/DB_PASSWORD", {
      value: "hunter2-first",
      note: "rotate monthly",
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(JSON.parse(created.body).version, 1);
    const updated = await call(owner, "PUT", "/vaults/vault-a/secrets/DB_PASSWORD", {
      value: "hunter2-second",
    });
    assert.equal(updated.statusCode, 200);
    assert.equal(JSON.parse(updated.body).version, 2);
    const revealed = await call(viewer, "GET", "/vaults/vault-a/secrets/DB_PASSWORD");
    assert.equal(revealed.statusCode, 200);
    assert.equal(revealed.headers["cache-control"], "no-store");
    assert.deepEqual(
      {
        value: JSON.parse(revealed.body).value,
        note: JSON.parse(revealed.body).note,
        version: JSON.parse(revealed.body).version,
      },
      { value: "hunter2-second", note: null, version: 2 },
    );
    const v1 = JSON.parse(
      (await call(viewer, "GET", "/vaults/vault-a/secrets/DB_PASSWORD/versions/1")).body,
    );
    assert.deepEqual([v1.value, v1.note, v1.version], ["hunter2-first", "rotate monthly", 1]);
    const events = await t.database.db
      .selectFrom("audit_events")
      .select(["action", "actor_name", "details"])
      .where("target", "=", "vault-a/DB_PASSWORD")
      .execute();
    assert.ok(events.some((e) => e.action === "secret.reveal" && e.actor_name === "viewer_a"));
    assert.ok(events.some((e) => e.action === "secret.reveal-version"));
    assert.ok(!JSON.stringify(events).includes("hunter2"), "no values in the audit log");
  });

  it("lists names and metadata only, paginated with a signed cursor", async () => {
    for (let i = 0; i < 7; i++)
      await call(owner, "PUT", `/vaults/vault-a/secrets/PAGE_${i}`, { value: `page-value-${i}` });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await call(
        viewer,
        "GET",
        `/vaults/vault-a/secrets?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      assert.equal(page.statusCode, 200, page.body);
      assert.ok(!page.body.includes("page-value"), "never values");
      const body = JSON.parse(page.body);
      seen.push(...body.secrets.map((s: { name: string }) => s.name));
      cursor = body.nextCursor;
    } while (cursor !== null);
    assert.deepEqual(seen, [...seen].sort());
    assert.equal(new Set(seen).size, seen.length);
    assert.ok(seen.includes("PAGE_0") && seen.includes("PAGE_6") && seen.includes("DB_PASSWORD"));

    const first = JSON.parse((await call(viewer, "GET", "/vaults/vault-a/secrets?limit=2")).body)
      .nextCursor as string;
    const [payload] = first.split(".");
    const forged = `${Buffer.from(JSON.stringify({ v: "x", a: "A" })).toString("base64url")}.${first.split(".")[1]}`;
    for (const bad of [forged, `${payload}.AAAA`, "garbage", `${payload}`, `${first}.x`]) {
      assert.equal(
        (await call(viewer, "GET", `/vaults/vault-a/secrets?cursor=${encodeURIComponent(bad)}`))
          .statusCode,
        400,
        bad,
      );
    }
    const fromB = JSON.parse((await call(outsider, "GET", "/vaults/vault-b/secrets?limit=1")).body);
    assert.equal(fromB.nextCursor, null);
    assert.equal(
      (await call(viewer, "GET", `/vaults/vault-a/secrets?cursor=${encodeURIComponent(first)}`))
        .statusCode,
      200,
    );
    assert.equal(
      (await call(outsider, "GET", `/vaults/vault-b/secrets?cursor=${encodeURIComponent(first)}`))
        .statusCode,
      400,
      "a cursor from another vault",
    );
    for (const query of ["limit=0", "limit=201", "limit=abc", "foo=bar"]) {
      assert.equal(
        (await call(viewer, "GET", `/vaults/vault-a/secrets?${query}`)).statusCode,
        400,
        query,
      );
    }
  });

  it("finds secrets by part of their name, case-insensitively, wildcards taken literally", async () => {
    for (const name of ["SEARCH_ALPHA", "search_beta", "OTHER_100%", "OTHER_1X0"]) {
      await call(owner, "PUT", `/vaults/vault-a/secrets/${name.replace("%", "")}`, { value: "v" });
    }
    const names = async (q: string): Promise<string[]> =>
      JSON.parse(
        (await call(viewer, "GET", `/vaults/vault-a/secrets?limit=200&q=${encodeURIComponent(q)}`))
          .body,
      ).secrets.map((s: { name: string }) => s.name);
    assert.deepEqual(await names("search_"), ["SEARCH_ALPHA", "search_beta"]);
    assert.deepEqual(await names("_1_0"), [], "an underscore is not a wildcard");
    assert.deepEqual(await names("%"), [], "a percent sign is not a wildcard");
    assert.equal(
      (await call(viewer, "GET", `/vaults/vault-a/secrets?q=${"x".repeat(129)}`)).statusCode,
      400,
    );
  });

  it("validates names, values and notes, changing nothing on refusal", async () => {
    for (const name of [
      "1STARTS_WITH_DIGIT",
      "has space",
      "a/b",
      "x".repeat(129),
      "名前",
      "..",
      "%2E%2E",
      "a%2Fb",
      "NUL%00X",
    ]) {
      const response = await call(
        owner,
        "PUT",
        `/vaults/vault-a/secrets/${encodeURIComponent(name).replaceAll("%25", "%")}`,
        { value: "v" },
      );
      assert.ok([400, 404].includes(response.statusCode), `${name} → ${response.statusCode}`);
    }
    assert.equal(
      (await call(owner, "PUT", "/vaults/vault-a/secrets/EMPTY", { value: "" })).statusCode,
      400,
    );
    assert.equal(
      (
        await call(owner, "PUT", "/vaults/vault-a/secrets/BIG", {
          value: "x".repeat(64 * 1024 + 1),
        })
      ).statusCode,
      400,
    );
    assert.equal(
      (
        await call(owner, "PUT", "/vaults/vault-a/secrets/MULTIBYTE", {
          value: "é".repeat(32 * 1024 + 1),
        })
      ).statusCode,
      400,
      "bytes, not characters",
    );
    assert.equal(
      (await call(owner, "PUT", "/vaults/vault-a/secrets/BIG", { value: "x".repeat(64 * 1024) }))
        .statusCode,
      201,
    );
    assert.equal(
      (
        await call(owner, "PUT", "/vaults/vault-a/secrets/NOTE", {
          value: "v",
          note: "n".repeat(16 * 1024 + 1),
        })
      ).statusCode,
      400,
    );
    assert.equal(
      (
        await call(owner, "PUT", "/vaults/vault-a/secrets/EXTRA", {
          value: "v",
          type: "evil",
          owner: "me",
        })
      ).statusCode,
      400,
    );
    const names = (await t.database.db.selectFrom("secrets").select("name").execute()).map(
      (r) => r.name,
    );
    for (const name of ["EMPTY", "MULTIBYTE", "NOTE", "EXTRA"])
      assert.ok(!names.includes(name), name);
  });

  it("a viewer cannot write or delete; an outsider cannot reach vault A's secrets by name (IDOR)", async () => {
    assert.equal(
      (await call(viewer, "PUT", "/vaults/vault-a/secrets/DB_PASSWORD", { value: "viewer-write" }))
        .statusCode,
      403,
    );
    assert.equal(
      (await call(viewer, "DELETE", "/vaults/vault-a/secrets/DB_PASSWORD")).statusCode,
      403,
    );
    assert.equal(
      (await call(viewer, "POST", "/vaults/vault-a/secrets/DB_PASSWORD/versions/1/restore"))
        .statusCode,
      403,
    );
    for (const [method, url] of [
      ["GET", "/vaults/vault-a/secrets/DB_PASSWORD"],
      ["GET", "/vaults/vault-a/secrets/DB_PASSWORD/versions"],
      ["GET", "/vaults/vault-a/secrets/DB_PASSWORD/versions/1"],
      ["PUT", "/vaults/vault-a/secrets/DB_PASSWORD"],
      ["DELETE", "/vaults/vault-a/secrets/DB_PASSWORD"],
    ] as const) {
      const response = await call(
        outsider,
        method,
        url,
        method === "PUT" ? { value: "stolen" } : undefined,
      );
      assert.equal(response.statusCode, 404, `${method} ${url}`);
    }
    // Vault A's owner addressing vault B's secret through vault A's path finds nothing.
    assert.equal((await call(owner, "GET", "/vaults/vault-a/secrets/B_SECRET")).statusCode, 404);
    assert.equal(
      JSON.parse((await call(owner, "GET", "/vaults/vault-a/secrets/DB_PASSWORD")).body).value,
      "hunter2-second",
      "unchanged",
    );
  });

  it("keeps the newest 20 versions and restores an old one as a new version", async () => {
    for (let i = 1; i <= 23; i++)
      await call(owner, "PUT", "/vaults/vault-a/secrets/ROLLING", { value: `rolling-${i}` });
    const versions = JSON.parse(
      (await call(viewer, "GET", "/vaults/vault-a/secrets/ROLLING/versions")).body,
    ).versions.map((v: { version: number }) => v.version);
    assert.equal(versions.length, 20);
    assert.equal(versions[0], 23);
    assert.equal(versions.at(-1), 4);
    assert.equal(
      (await call(viewer, "GET", "/vaults/vault-a/secrets/ROLLING/versions/3")).statusCode,
      404,
    );
    const restored = await call(
      owner,
      "POST",
      "/vaults/vault-a/secrets/ROLLING/versions/10/restore",
    );
    assert.equal(restored.statusCode, 201);
    assert.equal(JSON.parse(restored.body).version, 24);
    assert.equal(
      JSON.parse((await call(viewer, "GET", "/vaults/vault-a/secrets/ROLLING")).body).value,
      "rolling-10",
    );
  });

  it("a ciphertext moved to another row fails to decrypt, answered without a 500", async () => {
    await call(owner, "PUT", "/vaults/vault-a/secrets/MOVE_FROM", { value: "moved-value" });
    await call(owner, "PUT", "/vaults/vault-a/secrets/MOVE_TO", { value: "target-value" });
    const rows = await t.database.db
      .selectFrom("secret_versions")
      .innerJoin("secrets", "secrets.id", "secret_versions.secret_id")
      .select([
        "secret_versions.id",
        "secrets.name",
        "key_id",
        "wrapped_key",
        "nonce",
        "ciphertext",
      ])
      .where("secrets.name", "in", ["MOVE_FROM", "MOVE_TO"])
      .execute();
    const from = rows.find((r) => r.name === "MOVE_FROM");
    const to = rows.find((r) => r.name === "MOVE_TO");
    assert.ok(from && to);
    await t.database.db
      .updateTable("secret_versions")
      .set({
        key_id: from.key_id,
        wrapped_key: from.wrapped_key,
        nonce: from.nonce,
        ciphertext: from.ciphertext,
      })
      .where("id", "=", to.id)
      .execute();
    const response = await call(owner, "GET", "/vaults/vault-a/secrets/MOVE_TO");
    assert.equal(response.statusCode, 422);
    assert.match(JSON.parse(response.body).type, /integrity-error$/);
    assert.ok(!response.body.includes("moved-value"));
    assert.ok(
      t.logs.some((line) => line.includes("integrity-error")),
      "logged",
    );
  });

  it("a reveal names what is missing, and refuses a token outside its scope", async () => {
    await call(owner, "PUT", "/vaults/vault-a/secrets/ANSWERS", { value: "answer-value" });
    const detail = async (url: string) => {
      const response = await call(owner, "GET", url);
      return [response.statusCode, JSON.parse(response.body).detail];
    };
    assert.deepEqual(await detail("/vaults/vault-a/secrets/NOT_THERE"), [
      404,
      "There is no such secret.",
    ]);
    assert.deepEqual(await detail("/vaults/vault-a/secrets/ANSWERS/versions/7"), [
      404,
      "There is no such version.",
    ]);
    const [status] = await detail("/vaults/no-such-vault/secrets/ANSWERS");
    assert.equal(status, 404);
    // The same answer for a vault that exists but is not the caller's.
    assert.deepEqual(
      await detail("/vaults/vault-b/secrets/B_SECRET"),
      await detail("/vaults/no-such-vault/secrets/B_SECRET"),
    );
    // A token scoped to vault B (its owner's) cannot reveal in vault A, though its owner can.
    const token = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/tokens",
      headers: asSession(outsider),
      payload: {
        name: "b-only",
        scopes: [{ vault: "vault-b", permission: "read" }],
        expiresInDays: 1,
      },
    });
    assert.equal(token.statusCode, 201, token.body);
    const bearer = { authorization: `Bearer ${JSON.parse(token.body).token}` };
    const viaToken = (url: string) =>
      t.app.inject({ method: "GET", url: `/api/v1${url}`, headers: bearer });
    assert.equal((await viaToken("/vaults/vault-b/secrets/B_SECRET")).statusCode, 200);
    assert.equal((await viaToken("/vaults/vault-a/secrets/ANSWERS")).statusCode, 404);
  });

  it("gives no value when the reveal's audit event cannot be committed", async () => {
    await call(owner, "PUT", "/vaults/vault-a/secrets/AUDITED", { value: "audited-value" });
    await sql`alter table audit_events rename to audit_events_away`.execute(t.database.db);
    let responses: Awaited<ReturnType<typeof call>>[];
    try {
      responses = await Promise.all([
        call(owner, "GET", "/vaults/vault-a/secrets/AUDITED"),
        call(viewer, "GET", "/vaults/vault-a/secrets/AUDITED"),
        call(owner, "GET", "/vaults/vault-a/secrets/AUDITED/versions/1"),
      ]);
    } finally {
      await sql`alter table audit_events_away rename to audit_events`.execute(t.database.db);
    }
    for (const response of responses) {
      assert.ok(response.statusCode >= 500, `${response.statusCode}`);
      assert.ok(!response.body.includes("audited-value"));
    }
    const again = await call(owner, "GET", "/vaults/vault-a/secrets/AUDITED");
    assert.equal(JSON.parse(again.body).value, "audited-value");
  });
});

for (const kind of testDatabaseTargets()) {
  describe(`concurrent writes on ${kind.name}`, () => {
    it("never lose a version or duplicate a number", async () => {
      const database = await kind.create();
      const app = await createTestApp({ target: database.target });
      try {
        await createTestUser(app, { username: "racer" });
        const session = await signIn(app, "racer");
        const put = (name: string, value: string) =>
          app.app.inject({
            method: "PUT",
            url: `/api/v1/vaults/race/secrets/${name}`,
            headers: asSession(session),
            payload: { value },
          });
        await app.app.inject({
          method: "POST",
          url: "/api/v1/vaults",
          headers: asSession(session),
          payload: { slug: "race" },
        });
        const responses = await Promise.all(
          Array.from({ length: 15 }, (_, i) => put("CONTENDED", `value-${i}`)),
        );
        assert.deepEqual(
          responses.map((r) => r.statusCode).sort(),
          [200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 201],
        );
        const numbers = responses
          .map((r) => JSON.parse(r.body).version)
          .sort((a: number, b: number) => a - b);
        assert.deepEqual(
          numbers,
          Array.from({ length: 15 }, (_, i) => i + 1),
        );
        const stored = await app.database.db
          .selectFrom("secret_versions")
          .select("version")
          .execute();
        assert.deepEqual(
          stored.map((r) => r.version).sort((a, b) => a - b),
          numbers,
        );
        // Fifteen concurrent audit appends still form one chain.
        const chain = await verifyAuditChain(app.database.db, { batchSize: 100 });
        assert.equal(chain.ok, true, JSON.stringify(chain));
      } finally {
        await app.close();
        await database.cleanup();
      }
    });
  });
}

// The bytes in SQLite's own files, on SQLite whatever the test engine.
describe("secrets at rest in the SQLite files", () => {
  let sq: TestApp;
  let sqDatabase: TestDatabase;
  let sqOwner: SignedIn;
  const sqCall = (method: "GET" | "PUT" | "DELETE", url: string, payload?: unknown) =>
    sq.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: asSession(sqOwner),
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
  before(async () => {
    sqDatabase = await createSqliteDatabase();
    sq = await createTestApp({ target: sqDatabase.target });
    await createTestUser(sq, { username: "owner_a" });
    sqOwner = await signIn(sq, "owner_a");
    const vault = await sq.app.inject({
      method: "POST",
      url: "/api/v1/vaults",
      headers: asSession(sqOwner),
      payload: { slug: "vault-a" },
    });
    assert.equal(vault.statusCode, 201, vault.body);
  });
  after(async () => {
    await sq.close();
    await sqDatabase.cleanup();
  });

  it("deleting shreds: no plaintext or ciphertext remains in the SQLite files", async () => {
    const marker = `SHRED-ME-${Date.now()}-plaintext-marker`;
    await sqCall("PUT", "/vaults/vault-a/secrets/TO_SHRED", {
      value: marker,
      note: `${marker}-note`,
    });
    await sqCall("PUT", "/vaults/vault-a/secrets/TO_SHRED", { value: `${marker}-v2` });
    const ciphertexts = (
      await sq.database.db
        .selectFrom("secret_versions")
        .innerJoin("secrets", "secrets.id", "secret_versions.secret_id")
        .select(["ciphertext", "wrapped_key"])
        .where("secrets.name", "=", "TO_SHRED")
        .execute()
    ).flatMap((r) => [r.ciphertext, r.wrapped_key]);
    assert.equal((await sqCall("DELETE", "/vaults/vault-a/secrets/TO_SHRED")).statusCode, 204);
    assert.equal((await sqCall("GET", "/vaults/vault-a/secrets/TO_SHRED")).statusCode, 404);
    assert.ok(sq.config.database.kind === "sqlite");
    const dir = dirname(sq.config.database.path);
    const base = basename(sq.config.database.path);
    const files = readdirSync(dir).filter((f) => f.startsWith(base));
    assert.ok(files.length > 0);
    for (const file of files) {
      const bytes = readFileSync(join(dir, file));
      assert.equal(bytes.indexOf(Buffer.from(marker)), -1, `plaintext in ${file}`);
      for (const c of ciphertexts) assert.equal(bytes.indexOf(c), -1, `ciphertext in ${file}`);
    }
    const ledger = await sq.database.db.selectFrom("shredded_secrets").selectAll().execute();
    assert.ok(ledger.length >= 1);
  });

  it("stored values never appear in plain bytes in the database files", async () => {
    const marker = `PLAINTEXT-CHECK-${Date.now()}`;
    await sqCall("PUT", "/vaults/vault-a/secrets/AT_REST", {
      value: marker,
      note: `${marker}-n`,
    });
    assert.ok(sq.config.database.kind === "sqlite");
    const dir = dirname(sq.config.database.path);
    const base = basename(sq.config.database.path);
    const files = readdirSync(dir).filter((f) => f.startsWith(base));
    assert.ok(files.length > 0);
    for (const file of files) {
      assert.equal(readFileSync(join(dir, file)).indexOf(Buffer.from(marker)), -1, file);
    }
  });
});

/**
 * The server runs with a PostgreSQL role that can read and write rows and nothing else: the
 * schema's owner migrates (`strongroom migrate`), the serving role only has SELECT, INSERT,
 * UPDATE and DELETE on the tables and USAGE on the sequences (docs/deployment.md, "A
 * least-privilege database role"). Every feature works with those grants, and the role cannot
 * change the schema or read another schema.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { verifyAuditChain } from "../../src/audit/index.js";
import { openDatabase } from "../../src/db/database.js";
import { migrateToLatest } from "../../src/db/migrate.js";
import { asSession, createTestUser, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";
import type { TestDatabase } from "../helpers/databases.js";
import { createPostgresTestDatabase, POSTGRES_SKIPPED } from "../helpers/databases.js";

const OWNER_URL = process.env.TEST_DATABASE_URL;

/** The grants docs/deployment.md gives the serving role, for `schema` and `role`. */
function runtimeGrants(schema: string, role: string): string[] {
  return [
    `grant usage on schema ${schema} to ${role}`,
    `grant select, insert, update, delete on all tables in schema ${schema} to ${role}`,
    `grant usage, select, update on all sequences in schema ${schema} to ${role}`,
  ];
}

async function asOwner(statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: OWNER_URL });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

/** `url` with its user replaced by `role` (trust authentication here: no password). */
function urlAs(url: string, role: string): string {
  const parsed = new URL(url);
  parsed.username = role;
  parsed.password = "";
  return parsed.toString();
}

describe("serving with a least-privilege PostgreSQL role", {
  skip: OWNER_URL ? false : POSTGRES_SKIPPED,
}, () => {
  // Generated from hex digits: safe to interpolate into the statements below.
  const role = `sr_app_${randomBytes(6).toString("hex")}`;
  let database: TestDatabase;
  let schema: string;
  let t: TestApp;

  before(async () => {
    database = await createPostgresTestDatabase();
    assert.equal(database.target.kind, "postgres");
    schema = database.target.kind === "postgres" ? (database.target.schema ?? "") : "";
    // The owner migrates, as `strongroom migrate` would before the servers start.
    const owner = await openDatabase(database.target);
    try {
      await migrateToLatest(owner.db);
    } finally {
      await owner.close();
    }
    await asOwner([`create role ${role} login`, ...runtimeGrants(schema, role)]);
    t = await createTestApp({
      target: { kind: "postgres", url: urlAs(OWNER_URL ?? "", role), schema },
    });
  });

  after(async () => {
    await t?.close();
    await database?.cleanup();
    await asOwner([`drop owned by ${role}`, `drop role if exists ${role}`]);
  });

  it("signs in, keeps secrets, shares, administers and audits with row grants only", async () => {
    await createTestUser(t, { username: "lp_admin", role: "admin" });
    await createTestUser(t, { username: "lp_member" });
    const admin = await signIn(t, "lp_admin");
    const call = (method: "GET" | "POST" | "PUT" | "DELETE", url: string, payload?: unknown) =>
      t.app.inject({
        method,
        url: `/api/v1${url}`,
        headers: asSession(admin),
        ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
      });
    /** Awaits `response` and asserts its status, naming the step. */
    const expect = async (
      what: string,
      response: Promise<{ statusCode: number; body: string }>,
      status: number,
    ) => {
      const answered = await response;
      assert.equal(answered.statusCode, status, `${what}: ${answered.body}`);
      return answered;
    };
    await expect("make a vault", call("POST", "/vaults", { slug: "lp-vault" }), 201);
    await expect("write", call("PUT", "/vaults/lp-vault/secrets/KEY", { value: "v1-value" }), 201);
    await expect(
      "write again",
      call("PUT", "/vaults/lp-vault/secrets/KEY", { value: "v2-value" }),
      200,
    );
    const revealed = await expect("reveal", call("GET", "/vaults/lp-vault/secrets/KEY"), 200);
    assert.equal(JSON.parse(revealed.body).value, "v2-value");
    await expect(
      "restore v1",
      call("POST", "/vaults/lp-vault/secrets/KEY/versions/1/restore"),
      201,
    );
    await expect(
      "add a member",
      call("PUT", "/vaults/lp-vault/members/lp_member", { role: "viewer" }),
      201,
    );
    const minted = await expect(
      "mint a token",
      call("POST", "/me/tokens", {
        name: "ci",
        scopes: [{ vault: "lp-vault", permission: "read" }],
        expiresInDays: 1,
      }),
      201,
    );
    const bearer = await t.app.inject({
      url: "/api/v1/vaults/lp-vault/secrets/KEY",
      headers: { authorization: `Bearer ${JSON.parse(minted.body).token}` },
    });
    assert.equal(bearer.statusCode, 200, bearer.body);
    const share = await expect(
      "share",
      call("POST", "/vaults/lp-vault/secrets/KEY/shares", {
        ciphertext: randomBytes(64).toString("base64url"),
      }),
      201,
    );
    const opened = await t.app.inject({ url: `/api/v1/shares/${JSON.parse(share.body).share.id}` });
    assert.equal(opened.statusCode, 200, opened.body);
    await expect("list users", call("GET", "/admin/users"), 200);
    await expect("end a member's sessions", call("DELETE", "/admin/users/lp_member/sessions"), 200);
    await expect("delete the secret", call("DELETE", "/vaults/lp-vault/secrets/KEY"), 204);
    await expect("read the audit log", call("GET", "/audit"), 200);
    assert.equal((await verifyAuditChain(t.database.db)).ok, true);
  });

  it("cannot change the schema, nor reach beyond its grants", async () => {
    const client = new pg.Client({
      connectionString: urlAs(OWNER_URL ?? "", role),
      options: `-c search_path=${schema}`,
    });
    await client.connect();
    try {
      for (const [statement, refusal] of [
        ["create table planted (id int)", /permission denied/],
        ["drop table secrets", /must be owner/],
        ["alter table users add column backdoor text", /must be owner/],
        ["truncate audit_events", /permission denied/],
        ["create schema elsewhere", /permission denied/],
      ] as const) {
        await assert.rejects(client.query(statement), refusal, statement);
      }
    } finally {
      await client.end();
    }
  });
});

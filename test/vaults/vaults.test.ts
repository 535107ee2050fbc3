import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { SignedIn } from "../helpers/accounts.js";
import { asSession, createTestUser, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
let owner: SignedIn;
let bob: SignedIn;
let admin: SignedIn;
before(async () => {
  t = await createTestApp();
  await createTestUser(t, { username: "olivia" });
  await createTestUser(t, { username: "bobby" });
  await createTestUser(t, { username: "root_admin", role: "admin" });
  owner = await signIn(t, "olivia");
  bob = await signIn(t, "bobby");
  admin = await signIn(t, "root_admin");
});
after(async () => {
  await t.close();
});

const call = (
  session: SignedIn,
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
  url: string,
  payload?: unknown,
) =>
  t.app.inject({
    method,
    url: `/api/v1${url}`,
    headers: asSession(session),
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });

describe("vaults and members", () => {
  it("creates a vault with the creator as owner, and lists only the caller's vaults", async () => {
    const created = await call(owner, "POST", "/vaults", {
      slug: "team-alpha",
      description: "Alpha's keys",
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.deepEqual(JSON.parse(created.body).vault.role, "owner");
    assert.equal((await call(owner, "POST", "/vaults", { slug: "team-alpha" })).statusCode, 409);
    assert.deepEqual(
      JSON.parse((await call(owner, "GET", "/vaults")).body).vaults.map(
        (v: { slug: string }) => v.slug,
      ),
      ["team-alpha"],
    );
    assert.deepEqual(JSON.parse((await call(bob, "GET", "/vaults")).body).vaults, []);
    assert.deepEqual(
      JSON.parse((await call(admin, "GET", "/vaults")).body).vaults,
      [],
      "admins see no vault they are not in",
    );
  });

  for (const slug of [
    "A",
    "a",
    "-start",
    "UPPER",
    "has space",
    "dots.no",
    "x".repeat(64),
    "..",
    "a/b",
    "a%2Fb",
    "nul\u0000x",
    "é-vault",
  ]) {
    it(`refuses the slug ${JSON.stringify(slug).slice(0, 20)}`, async () => {
      const response = await call(owner, "POST", "/vaults", { slug });
      assert.equal(response.statusCode, 400);
    });
  }

  it("non-members get 404 for a vault, as if it did not exist — admins included", async () => {
    for (const session of [bob, admin]) {
      for (const [method, url] of [
        ["GET", "/vaults/team-alpha"],
        ["PATCH", "/vaults/team-alpha"],
        ["DELETE", "/vaults/team-alpha"],
        ["GET", "/vaults/team-alpha/members"],
        ["GET", "/vaults/team-alpha/secrets"],
      ] as const) {
        const response = await call(
          session,
          method,
          url,
          method === "PATCH" ? { description: "x" } : undefined,
        );
        assert.equal(response.statusCode, 404, `${method} ${url}`);
        const missing = await call(
          session,
          method,
          url.replace("team-alpha", "no-such-vault"),
          method === "PATCH" ? { description: "x" } : undefined,
        );
        assert.deepEqual(
          { ...JSON.parse(response.body), requestId: null },
          { ...JSON.parse(missing.body), requestId: null },
          "same answer as a vault that does not exist",
        );
      }
    }
    assert.equal(
      JSON.parse((await call(owner, "GET", "/vaults/team-alpha")).body).vault.description,
      "Alpha's keys",
      "unchanged",
    );
  });

  it("owners manage members; the last owner cannot leave or be demoted", async () => {
    assert.equal(
      (await call(owner, "PUT", "/vaults/team-alpha/members/bobby", { role: "viewer" })).statusCode,
      201,
    );
    assert.equal(
      (await call(owner, "PUT", "/vaults/team-alpha/members/nobody_x", { role: "viewer" }))
        .statusCode,
      404,
    );
    assert.equal(
      (await call(owner, "PUT", "/vaults/team-alpha/members/bobby", { role: "admin" })).statusCode,
      400,
    );
    const members = JSON.parse((await call(bob, "GET", "/vaults/team-alpha/members")).body).members;
    assert.deepEqual(
      members.map((m: { username: string; role: string }) => `${m.username}:${m.role}`),
      ["bobby:viewer", "olivia:owner"],
    );
    // A viewer (or editor) cannot manage members.
    assert.equal(
      (await call(bob, "PUT", "/vaults/team-alpha/members/bobby", { role: "owner" })).statusCode,
      403,
    );
    assert.equal(
      (await call(owner, "PUT", "/vaults/team-alpha/members/bobby", { role: "editor" })).statusCode,
      200,
    );
    assert.equal(
      (await call(bob, "PUT", "/vaults/team-alpha/members/olivia", { role: "viewer" })).statusCode,
      403,
    );
    assert.equal(
      (await call(bob, "PATCH", "/vaults/team-alpha", { description: "hijack" })).statusCode,
      403,
    );
    assert.equal((await call(bob, "DELETE", "/vaults/team-alpha")).statusCode, 403);
    assert.equal(
      (await call(owner, "PUT", "/vaults/team-alpha/members/olivia", { role: "editor" }))
        .statusCode,
      409,
    );
    assert.equal(
      (await call(owner, "DELETE", "/vaults/team-alpha/members/olivia")).statusCode,
      409,
    );
    const roles = JSON.parse((await call(owner, "GET", "/vaults/team-alpha/members")).body).members;
    assert.deepEqual(
      roles.map((m: { username: string; role: string }) => `${m.username}:${m.role}`),
      ["bobby:editor", "olivia:owner"],
    );
    // A member may leave.
    assert.equal((await call(bob, "DELETE", "/vaults/team-alpha/members/bobby")).statusCode, 204);
    assert.equal((await call(bob, "GET", "/vaults/team-alpha")).statusCode, 404);
  });

  it("owners update and delete the vault", async () => {
    assert.equal(
      (await call(owner, "PATCH", "/vaults/team-alpha", { description: "new words" })).statusCode,
      200,
    );
    assert.equal(
      (await call(owner, "PATCH", "/vaults/team-alpha", { description: "x", slug: "renamed" }))
        .statusCode,
      400,
    );
    assert.equal(
      (await call(owner, "PUT", "/vaults/team-alpha/secrets/API_KEY", { value: "v" })).statusCode,
      201,
    );
    assert.equal((await call(owner, "DELETE", "/vaults/team-alpha")).statusCode, 204);
    assert.equal((await call(owner, "GET", "/vaults/team-alpha")).statusCode, 404);
    const ledger = await t.database.db.selectFrom("shredded_secrets").selectAll().execute();
    assert.equal(ledger.length, 1, "the shred ledger names the deleted secret");
  });
});

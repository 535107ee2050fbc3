import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { createApiToken } from "../../src/tokens/tokens.service.js";
import type { SignedIn } from "../helpers/accounts.js";
import { asSession, createTestUser, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
let owner: SignedIn;
before(async () => {
  t = await createTestApp();
  await createTestUser(t, { username: "vault_boss" });
  await createTestUser(t, { username: "token_user" });
  owner = await signIn(t, "vault_boss");
  await t.app.inject({
    method: "POST",
    url: "/api/v1/vaults",
    headers: asSession(owner),
    payload: { slug: "ci-secrets" },
  });
  await t.app.inject({
    method: "PUT",
    url: "/api/v1/vaults/ci-secrets/members/token_user",
    headers: asSession(owner),
    payload: { role: "editor" },
  });
});
after(async () => {
  await t.close();
});

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("what a token may do follows its owner's current rights", () => {
  it("loses write at once when the owner is demoted, and everything when removed", async () => {
    const user = await t.database.db
      .selectFrom("users")
      .select("id")
      .where("username_key", "=", "token_user")
      .executeTakeFirstOrThrow();
    const { token } = await createApiToken(t.database.db, {
      userId: user.id,
      username: "token_user",
      name: "ci",
      scopes: [{ vault: "ci-secrets", permission: "write" }],
      expiresInDays: 30,
      now: t.clock.now(),
      address: "127.0.0.1",
    });
    const write = (value: string) =>
      t.app.inject({
        method: "PUT",
        url: "/api/v1/vaults/ci-secrets/secrets/DEPLOY_KEY",
        headers: bearer(token),
        payload: { value },
      });
    assert.equal((await write("one")).statusCode, 201);
    assert.equal(
      (
        await t.app.inject({
          method: "PUT",
          url: "/api/v1/vaults/ci-secrets/members/token_user",
          headers: asSession(owner),
          payload: { role: "viewer" },
        })
      ).statusCode,
      200,
    );
    assert.equal((await write("two")).statusCode, 403, "write is gone with the demotion");
    assert.equal(
      (
        await t.app.inject({
          url: "/api/v1/vaults/ci-secrets/secrets/DEPLOY_KEY",
          headers: bearer(token),
        })
      ).statusCode,
      200,
      "read remains",
    );
    assert.equal(
      (
        await t.app.inject({
          method: "DELETE",
          url: "/api/v1/vaults/ci-secrets/members/token_user",
          headers: asSession(owner),
        })
      ).statusCode,
      204,
    );
    assert.equal(
      (
        await t.app.inject({
          url: "/api/v1/vaults/ci-secrets/secrets/DEPLOY_KEY",
          headers: bearer(token),
        })
      ).statusCode,
      404,
      "no membership, no vault",
    );
    assert.equal(
      JSON.parse(
        (
          await t.app.inject({
            url: "/api/v1/vaults/ci-secrets/secrets/DEPLOY_KEY",
            headers: asSession(owner),
          })
        ).body,
      ).value,
      "one",
    );
  });
});

describe("master keys", () => {
  it("a value whose master key is no longer configured gets a clear integrity error, not a 500", async () => {
    assert.equal(
      (
        await t.app.inject({
          method: "PUT",
          url: "/api/v1/vaults/ci-secrets/secrets/OLD_KEY",
          headers: asSession(owner),
          payload: { value: "sealed with t1" },
        })
      ).statusCode,
      201,
    );
    const rotated = await createTestApp({
      env: { MASTER_KEY: `other:${randomBytes(32).toString("base64")}` },
      target: t.config.database,
    });
    try {
      const session = await signIn(rotated, "vault_boss");
      const response = await rotated.app.inject({
        url: "/api/v1/vaults/ci-secrets/secrets/OLD_KEY",
        headers: asSession(session),
      });
      assert.equal(response.statusCode, 422);
      assert.match(JSON.parse(response.body).type, /integrity-error$/);
    } finally {
      await rotated.close();
    }
  });
});

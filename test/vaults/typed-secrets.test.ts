/**
 * Typed secrets (issue 10, item 4; SPEC §3): `type` on PUT, per-type validation, one
 * structured value inside the ciphertext, returned in the same shape, each version keeping
 * its own type. Runs on the test engine (PostgreSQL under TEST_ENGINE=postgres).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { passesLuhn } from "../../src/vaults/secret-types.js";
import type { SignedIn } from "../helpers/accounts.js";
import { asSession, createTestUser, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
let editor: SignedIn;

const CARD = { holder: "Ada Lovelace", number: "4242 4242 4242 4242", expMonth: 12, expYear: 2099 };

before(async () => {
  t = await createTestApp();
  await createTestUser(t, { username: "typed_editor" });
  editor = await signIn(t, "typed_editor");
  assert.equal((await call("POST", "/vaults", { slug: "typed" })).statusCode, 201);
});
after(async () => {
  await t.close();
});

function call(method: "GET" | "POST" | "PUT", url: string, payload?: unknown) {
  return t.app.inject({
    method,
    url: `/api/v1${url}`,
    headers: asSession(editor),
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

async function read(name: string, version?: number) {
  const response = await call(
    "GET",
    `/vaults/typed/secrets/${name}${version === undefined ? "" : `/versions/${version}`}`,
  );
  assert.equal(response.statusCode, 200, response.body);
  return JSON.parse(response.body) as { type: string; value: unknown; version: number };
}

async function versionCount(name: string): Promise<number> {
  return (
    await t.database.db
      .selectFrom("secret_versions")
      .innerJoin("secrets", "secrets.id", "secret_versions.secret_id")
      .select("secret_versions.version")
      .where("secrets.name", "=", name)
      .execute()
  ).length;
}

describe("typed secrets", () => {
  it("the Luhn check", () => {
    for (const good of ["4242424242424242", "5555555555554444", "378282246310005", "79927398713"])
      assert.ok(passesLuhn(good), good);
    for (const bad of ["4242424242424241", "1234567812345678", "79927398710"])
      assert.ok(!passesLuhn(bad), bad);
  });

  it("defaults to generic and round-trips the string types", async () => {
    assert.equal(
      (await call("PUT", "/vaults/typed/secrets/PLAIN", { value: "p" })).statusCode,
      201,
    );
    assert.deepEqual([(await read("PLAIN")).type, (await read("PLAIN")).value], ["generic", "p"]);
    for (const type of ["password", "api_key", "note"]) {
      const name = `T_${type.toUpperCase()}`;
      const created = await call("PUT", `/vaults/typed/secrets/${name}`, {
        type,
        value: `${type}-value`,
      });
      assert.equal(created.statusCode, 201, created.body);
      assert.equal(JSON.parse(created.body).type, type);
      const got = await read(name);
      assert.deepEqual([got.type, got.value], [type, `${type}-value`]);
    }
    const listed = JSON.parse((await call("GET", "/vaults/typed/secrets")).body).secrets;
    assert.equal(listed.find((s: { name: string }) => s.name === "T_API_KEY").type, "api_key");
  });

  it("stores a credential and answers in the same shape", async () => {
    const value = { username: "deploy", password: "s3cret-pw", url: "https://db.example.com" };
    const created = await call("PUT", "/vaults/typed/secrets/DB_LOGIN", {
      type: "credential",
      value,
    });
    assert.equal(created.statusCode, 201, created.body);
    const got = await read("DB_LOGIN");
    assert.equal(got.type, "credential");
    assert.deepEqual(got.value, value);
    await call("PUT", "/vaults/typed/secrets/NO_URL", {
      type: "credential",
      value: { username: "u", password: "p" },
    });
    assert.deepEqual((await read("NO_URL")).value, { username: "u", password: "p" });
  });

  it("stores a card, its number without spaces", async () => {
    const created = await call("PUT", "/vaults/typed/secrets/CORP_CARD", {
      type: "card",
      value: { ...CARD, cvc: "123" },
    });
    assert.equal(created.statusCode, 201, created.body);
    const got = await read("CORP_CARD");
    assert.equal(got.type, "card");
    assert.deepEqual(got.value, { ...CARD, number: "4242424242424242", cvc: "123" });
  });

  it("refuses values that break their type's rules with 400 naming the field, writing nothing", async () => {
    const year = t.clock.now().getUTCFullYear();
    const month = t.clock.now().getUTCMonth() + 1;
    const cases: Array<[string, unknown, unknown, string]> = [
      ["card", { ...CARD, number: "4242 4242 4242 4241" }, "n", "body.value.number"],
      ["card", { ...CARD, number: "4242" }, "n", "body.value.number"],
      ["card", { ...CARD, number: "4242-4242-4242-424x" }, "n", "body.value.number"],
      ["card", { ...CARD, expMonth: 13 }, "m", "body.value.expMonth"],
      ["card", { ...CARD, expMonth: 0 }, "m", "body.value.expMonth"],
      ["card", { ...CARD, expYear: year - 1 }, "y", "body.value.expYear"],
      ["card", { ...CARD, cvc: "12" }, "c", "body.value.cvc"],
      ["card", { ...CARD, holder: " " }, "h", "body.value.holder"],
      ["card", { ...CARD, pin: "1234" }, "x", "body.value"],
      ["card", "4242424242424242", "s", "body.value"],
      ["credential", { username: "u" }, "p", "body.value.password"],
      [
        "credential",
        { username: "u", password: "p", url: "javascript:alert(1)" },
        "u",
        "body.value.url",
      ],
      ["credential", { username: "", password: "p" }, "e", "body.value.username"],
      ["password", { username: "u", password: "p" }, "o", "body.value"],
      ["generic", "", "g", "body.value"],
    ];
    if (month > 1)
      cases.push([
        "card",
        { ...CARD, expYear: year, expMonth: month - 1 },
        "t",
        "body.value.expYear",
      ]);
    for (const [type, value, tag, path] of cases) {
      const name = `BAD_${tag}`;
      const response = await call("PUT", `/vaults/typed/secrets/${name}`, { type, value });
      assert.equal(response.statusCode, 400, `${type} ${JSON.stringify(value)}: ${response.body}`);
      const problem = JSON.parse(response.body);
      assert.ok(problem.type.endsWith("#validation-failed"));
      assert.equal(problem.errors[0].path, path, JSON.stringify(problem.errors));
      assert.equal(await versionCount(name), 0);
    }
    const unknown = await call("PUT", "/vaults/typed/secrets/BAD_TYPE", {
      type: "ssh",
      value: "x",
    });
    assert.equal(unknown.statusCode, 400);
    assert.equal(JSON.parse(unknown.body).errors[0].path, "body.type");
    // A card valid through this month is accepted.
    assert.equal(
      (
        await call("PUT", "/vaults/typed/secrets/THIS_MONTH", {
          type: "card",
          value: { ...CARD, expYear: year, expMonth: month },
        })
      ).statusCode,
      201,
    );
  });

  it("a write without type keeps the secret's type; versions keep theirs; restore brings a type back", async () => {
    await call("PUT", "/vaults/typed/secrets/SHAPE", { type: "card", value: CARD });
    const asString = await call("PUT", "/vaults/typed/secrets/SHAPE", { value: "now a string" });
    assert.equal(asString.statusCode, 400, "still a card");
    assert.equal(await versionCount("SHAPE"), 1);
    const retyped = await call("PUT", "/vaults/typed/secrets/SHAPE", {
      type: "generic",
      value: "now a string",
    });
    assert.equal(retyped.statusCode, 200, retyped.body);
    assert.deepEqual(
      [(await read("SHAPE")).type, (await read("SHAPE")).value],
      ["generic", "now a string"],
    );
    const first = await read("SHAPE", 1);
    assert.equal(first.type, "card");
    assert.equal((first.value as { number: string }).number, "4242424242424242");
    const restored = await call("POST", "/vaults/typed/secrets/SHAPE/versions/1/restore");
    assert.equal(restored.statusCode, 201, restored.body);
    assert.equal(JSON.parse(restored.body).type, "card");
    const now = await read("SHAPE");
    assert.deepEqual([now.type, now.version], ["card", 3]);
    assert.deepEqual(now.value, { ...CARD, number: "4242424242424242" });
  });

  it("keeps typed values only inside the ciphertext and out of the audit log", async () => {
    await call("PUT", "/vaults/typed/secrets/AT_REST", {
      type: "credential",
      value: { username: "at-rest-user", password: "at-rest-password-77" },
    });
    const rows = await t.database.db.selectFrom("secret_versions").selectAll().execute();
    const events = await t.database.db.selectFrom("audit_events").selectAll().execute();
    const dump = JSON.stringify(rows, (_k, v) =>
      v && typeof v === "object" && v.type === "Buffer"
        ? Buffer.from(v.data).toString("latin1")
        : v,
    );
    for (const needle of ["at-rest-password-77", "at-rest-user", "4242424242424242"]) {
      assert.ok(!dump.includes(needle), needle);
      assert.ok(!JSON.stringify(events).includes(needle), needle);
    }
  });
});

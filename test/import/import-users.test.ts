import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import { hashPassword } from "../../src/crypto/passwords.js";
import { createTestUser } from "../helpers/accounts.js";
import { testDatabaseTargets } from "../helpers/databases.js";
import type { ImportHarness } from "./harness.js";
import { assertCleanLines, countRows, createImportHarness } from "./harness.js";

/** Hashes made by Python's bcrypt and Werkzeug (scripts/make-legacy-hash-fixtures.py). */
const legacy = JSON.parse(
  readFileSync(new URL("../fixtures/legacy-password-hashes.json", import.meta.url), "utf8"),
) as Array<{ format: string; password: string; hash: string }>;
const fixture = (format: string, hashPrefix = ""): { password: string; hash: string } => {
  const found = legacy.find((f) => f.format === format && f.hash.startsWith(hashPrefix));
  assert.ok(found, format);
  return found;
};

const bcrypt = fixture("bcrypt-2b");
const bcrypt2y = fixture("bcrypt-2y");
const pbkdf2 = fixture("werkzeug-pbkdf2:sha256:1000");
const scrypt = fixture("werkzeug-scrypt:16384:8:1");

/** A CSV line, quoting each field as a spreadsheet would. */
const csvLine = (...fields: string[]): string =>
  fields.map((field) => `"${field.replaceAll('"', '""')}"`).join(",");

async function login(h: ImportHarness, username: string, password: string) {
  return h.t.app.inject({
    method: "POST",
    url: "/api/v1/auth/login",
    payload: { username, password },
  });
}

async function storedHash(h: ImportHarness, username: string): Promise<string> {
  const row = await h.t.database.db
    .selectFrom("users")
    .select("password_hash")
    .where("username_key", "=", username.toLowerCase())
    .executeTakeFirstOrThrow();
  return row.password_hash;
}

for (const kind of testDatabaseTargets()) {
  describe(`strongroom import users (${kind.name})`, () => {
    let h: ImportHarness;
    let cleanup: () => Promise<void>;
    before(async () => {
      const database = await kind.create();
      cleanup = database.cleanup;
      h = await createImportHarness(database.target);
    });
    after(async () => {
      await h.close();
      await cleanup();
    });

    it("creates every user in one go; each signs in with the old password, then has Argon2id", async () => {
      const argon2 = await hashPassword("argon2 imported password", h.t.config.argon2);
      const file = h.file(
        "users.csv",
        [
          "username,email,password_hash,role",
          csvLine("flask_alice", "alice@flask.example", bcrypt.hash, "admin"),
          csvLine("flask_bob", "bob@flask.example", pbkdf2.hash, "member"),
          csvLine("flask_carol", "carol@flask.example", scrypt.hash, "auditor"),
          csvLine("flask_dave", "dave@flask.example", bcrypt2y.hash, ""),
          csvLine("flask_erin", "erin@flask.example", argon2, "member"),
          "",
        ].join("\r\n"),
      );
      const before = await countRows(h.t);
      const result = await h.cli(["import", "users", file]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        result.stdout,
        "created 5 users (2 bcrypt, 1 werkzeug-pbkdf2, 1 werkzeug-scrypt, 1 argon2id); " +
          "each keeps their password, rehashed with Argon2id at first sign-in\n",
      );
      assert.match(result.stderr, /^created 5\/5 {2}100% {2}\d+ rows\/s\n$/);
      assert.equal((await countRows(h.t)).users - before.users, 5);

      const roles = await h.t.database.db
        .selectFrom("users")
        .select(["username", "role", "disabled_at"])
        .where("username", "like", "flask_%")
        .orderBy("username")
        .execute();
      assert.deepEqual(
        roles.map((r) => [r.username, r.role, r.disabled_at]),
        [
          ["flask_alice", "admin", null],
          ["flask_bob", "member", null],
          ["flask_carol", "auditor", null],
          ["flask_dave", "member", null],
          ["flask_erin", "member", null],
        ],
      );

      for (const [username, password] of [
        ["flask_alice", bcrypt.password],
        ["flask_bob", pbkdf2.password],
        ["flask_carol", scrypt.password],
        ["flask_dave", bcrypt2y.password],
      ] as const) {
        assert.equal((await login(h, username, `${password}-wrong`)).statusCode, 401, username);
        assert.doesNotMatch(await storedHash(h, username), /^\$argon2id\$/, "not upgraded yet");
        const response = await login(h, username, password);
        assert.equal(response.statusCode, 200, `${username}: ${response.body}`);
        assert.match(await storedHash(h, username), /^\$argon2id\$/, `${username} upgraded`);
        assert.equal((await login(h, username, password)).statusCode, 200, "again, on Argon2id");
      }
      assert.equal((await login(h, "flask_erin", "argon2 imported password")).statusCode, 200);
      assert.equal(await storedHash(h, "flask_erin"), argon2, "a current Argon2id hash stays");

      const events = await h.t.database.db
        .selectFrom("audit_events")
        .select(["action", "target", "actor_name", "details"])
        .where("actor_name", "=", "cli")
        .orderBy("seq")
        .execute();
      assert.deepEqual(
        events.map((e) => [e.action, e.target]),
        [
          ["user.create", "flask_alice"],
          ["user.create", "flask_bob"],
          ["user.create", "flask_carol"],
          ["user.create", "flask_dave"],
          ["user.create", "flask_erin"],
          ["user.import", null],
        ],
      );
      assert.deepEqual(JSON.parse(events[0]?.details ?? "{}"), { role: "admin", source: "import" });
      assert.deepEqual(JSON.parse(events.at(-1)?.details ?? "{}"), { format: "csv", created: 5 });
      for (const hash of [bcrypt.hash, pbkdf2.hash, scrypt.hash, argon2]) {
        assert.ok(!result.stdout.includes(hash) && !result.stderr.includes(hash));
        assert.ok(!events.some((e) => e.details?.includes(hash)), "no hash in the audit log");
      }
    });

    it("a JSON array works the same; --dry-run creates nothing", async () => {
      const file = h.file(
        "users.json",
        JSON.stringify([
          { username: "json_frank", email: "frank@flask.example", password_hash: pbkdf2.hash },
          {
            username: "json_grace",
            email: "grace@flask.example",
            password_hash: bcrypt.hash,
            role: "auditor",
          },
        ]),
      );
      const before = await countRows(h.t);
      const dry = await h.cli(["import", "users", "--dry-run", file]);
      assert.equal(dry.code, 0, dry.stderr);
      assert.equal(
        dry.stdout,
        "dry run: would create 2 users (1 werkzeug-pbkdf2, 1 bcrypt); nothing was written\n",
      );
      assert.deepEqual(await countRows(h.t), before);
      const real = await h.cli(["import", "users", file]);
      assert.equal(real.code, 0, real.stderr);
      assert.equal((await countRows(h.t)).users - before.users, 2);
      assert.equal((await login(h, "json_grace", bcrypt.password)).statusCode, 200);
    });
  });
}

describe("strongroom import users: refusals", () => {
  let h: ImportHarness;
  before(async () => {
    h = await createImportHarness();
    await createTestUser(h.t, { username: "existing", email: "existing@example.test" });
  });
  after(() => h.close());

  async function refused(args: string[], code = 1): Promise<string[]> {
    const before = await countRows(h.t);
    const result = await h.cli(["import", "users", ...args]);
    assert.equal(result.code, code, result.stderr);
    assert.equal(result.stdout, "");
    assert.deepEqual(await countRows(h.t), before, "nothing written");
    for (const hash of legacy.map((f) => f.hash))
      assert.ok(!result.stderr.includes(hash), "no hash is ever printed");
    return assertCleanLines(result.stderr, "import users");
  }

  it("every bad row is named by line and field, and nobody is created", async () => {
    const file = h.file(
      "bad.csv",
      [
        "username,email,password_hash,role",
        csvLine("good_user", "good@flask.example", bcrypt.hash, "member"),
        csvLine("x", "not-an-email", pbkdf2.hash, "superuser"),
        csvLine("plain_text", "plain@flask.example", "hunter2", "member"),
        csvLine(
          "too_costly",
          "costly@flask.example",
          bcrypt.hash.replace("$2b$04$", "$2b$31$"),
          "",
        ),
        csvLine("GOOD_USER", "other@flask.example", bcrypt.hash, "member"),
        csvLine("same_mail", "GOOD@flask.example", bcrypt.hash, "member"),
        csvLine("Existing", "new@flask.example", bcrypt.hash, "member"),
        csvLine("new_person", "Existing@Example.test", bcrypt.hash, "member"),
        "short_row,only@two.example",
        csvLine("no_hash", "nohash@flask.example", "", "member"),
      ].join("\n"),
    );
    assert.deepEqual(await refused([file]), [
      "strongroom: import users: line 3: username: must be 4–25 characters of A–Z, a–z, 0–9 and _",
      "strongroom: import users: line 3: email: must be an e-mail address",
      "strongroom: import users: line 3: role: must be admin, auditor or member",
      "strongroom: import users: line 4: password_hash: not a format Strongroom can verify (bcrypt, Werkzeug pbkdf2 or scrypt, Argon2)",
      "strongroom: import users: line 5: password_hash: a bcrypt hash, but malformed or with costs beyond Strongroom's limits",
      "strongroom: import users: line 6: username: the same as on line 2",
      "strongroom: import users: line 7: email: the same as on line 2",
      "strongroom: import users: line 8: username: already taken by an existing user",
      "strongroom: import users: line 9: email: already used by an existing user",
      "strongroom: import users: line 10: has 2 fields; the header has 4",
      "strongroom: import users: line 11: password_hash: is empty",
      "strongroom: import users: nothing imported: 9 of 10 rows are bad",
    ]);
  });

  it("JSON entries: not an object, unknown or missing fields", async () => {
    const file = h.file(
      "bad.json",
      JSON.stringify([
        "just a string",
        {
          username: "json_user",
          email: "j@flask.example",
          password_hash: bcrypt.hash,
          admin: true,
        },
        { username: "json_user2", password_hash: bcrypt.hash },
        { username: 42, email: "n@flask.example", password_hash: bcrypt.hash },
      ]),
    );
    assert.deepEqual(await refused([file]), [
      "strongroom: import users: entry 1: is not an object",
      "strongroom: import users: entry 2: admin: unknown field",
      "strongroom: import users: entry 3: email: is missing",
      "strongroom: import users: entry 4: username: Invalid input: expected string, received number",
      "strongroom: import users: nothing imported: 4 of 4 rows are bad",
    ]);
  });

  it("files that cannot be read as users: one line each", async () => {
    const cases: Array<[string, string, RegExp]> = [
      [
        "header.csv",
        "username,email,password,role\na,b,c,d\n",
        /line 1: unknown column password \(the header is username,email,password_hash,role\)$/,
      ],
      ["nohash.csv", "username,email\na,b\n", /line 1: the header has no password_hash column$/],
      ["twice.csv", "username,email,email,password_hash\n", /line 1: column email appears twice$/],
      [
        "quote.csv",
        `username,email,password_hash\n"alice,a@x.example,${bcrypt.hash}\n`,
        /quote\.csv is not valid CSV: line 2: a quoted field is not closed$/,
      ],
      ["empty.csv", "", /empty\.csv holds no users$/],
      [
        "header-only.csv",
        "username,email,password_hash,role\n",
        /header-only\.csv holds no users$/,
      ],
      ["not.json", "{", /not\.json is not JSON/],
      ["object.json", "{}", /object\.json is not a JSON array of user objects$/],
    ];
    for (const [name, content, pattern] of cases) {
      const lines = await refused([h.file(name, content)]);
      assert.equal(lines.length, 1, name);
      assert.match(lines[0] ?? "", pattern, name);
    }
    const missing = await refused([`${h.cwd}/missing.csv`]);
    assert.match(missing[0] ?? "", /missing\.csv: no such file$/);
  });

  it("the format: from the extension, or --format; anything else is a usage error", async () => {
    const noExtension = h.file("users", "username,email,password_hash\n");
    const unknown = await refused([noExtension], 2);
    assert.match(
      unknown[0] ?? "",
      /cannot tell the format of .*users: name it \.csv or \.json, or give --format$/,
    );
    const badFormat = await refused(["--format", "xml", noExtension], 2);
    assert.match(badFormat[0] ?? "", /--format must be csv or json$/);
    const asCsv = await refused(["--format", "csv", noExtension]);
    assert.match(asCsv[0] ?? "", /holds no users$/, "read as CSV");
  });

  it("--help documents the command", async () => {
    const help = await h.cli(["import", "users", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: strongroom import users \[options\] <file>/);
    assert.match(help.stdout, /password_hash/);
    assert.match(help.stdout, /Examples:/);
  });
});

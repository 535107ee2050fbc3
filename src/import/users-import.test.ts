import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ImportFileError } from "./import-file.js";
import {
  findTakenUsers,
  readUserRows,
  USERS_IMPORT_MAX_ROWS,
  usersFileFormat,
  validateUserRows,
} from "./users-import.js";

const legacy = JSON.parse(
  readFileSync(new URL("../../test/fixtures/legacy-password-hashes.json", import.meta.url), "utf8"),
) as Array<{ format: string; hash: string }>;
const BCRYPT = legacy.find((f) => f.format === "bcrypt-2b")?.hash ?? "";
const PBKDF2 = legacy.find((f) => f.format.startsWith("werkzeug-pbkdf2"))?.hash ?? "";

describe("usersFileFormat", () => {
  it("takes --format first, then the extension", () => {
    assert.equal(usersFileFormat("a.csv"), "csv");
    assert.equal(usersFileFormat("A.JSON"), "json");
    assert.equal(usersFileFormat("a.csv", "json"), "json");
    assert.equal(usersFileFormat("a.txt"), null);
    assert.equal(usersFileFormat("a.csv", "xml"), null);
  });
});

describe("readUserRows (CSV)", () => {
  it("maps the header, in any order and case, and numbers rows by the line they start on", () => {
    const text = `EMAIL,Username,password_hash\r\na@x.example,alice,"${BCRYPT}"\r\n\r\n"b@x.example",bob,"multi\nline"\r\n`;
    const { rows, problems } = readUserRows(text, "csv");
    assert.deepEqual(problems, []);
    assert.deepEqual(
      rows.map((row) => [row.where, row.fields.username, row.fields.email]),
      [
        ["line 2", "alice", "a@x.example"],
        ["line 4", "bob", "b@x.example"],
      ],
    );
    assert.equal(rows[0]?.fields.password_hash, BCRYPT);
  });

  it("reports rows with the wrong number of fields, and refuses a bad header or CSV", () => {
    const { problems } = readUserRows("username,email,password_hash\na,b\n", "csv");
    assert.deepEqual(problems, [{ where: "line 2", message: "has 2 fields; the header has 3" }]);
    for (const text of [
      "username,email\n",
      "username,email,password_hash,extra\n",
      "user\u001bname,email,password_hash\n",
      'username,email,password_hash\n"a,b,c\n',
      "",
    ]) {
      assert.throws(() => readUserRows(text, "csv"), ImportFileError, JSON.stringify(text));
    }
  });

  it("never puts the row's text into a CSV error (csv-parse's messages can quote it)", () => {
    assert.throws(
      () => readUserRows(`username,email,password_hash\na,b,"${BCRYPT}"x\n`, "csv"),
      (error: Error) => !error.message.includes(BCRYPT.slice(10)) && /line 2/.test(error.message),
    );
  });
});

describe("readUserRows (JSON)", () => {
  it("takes an array of objects; anything else in it is a problem of that entry", () => {
    const { rows, problems } = readUserRows(JSON.stringify([{ username: "a" }, [], null]), "json");
    assert.deepEqual(
      rows.map((row) => row.where),
      ["entry 1"],
    );
    assert.deepEqual(
      problems.map((p) => p.where),
      ["entry 2", "entry 3"],
    );
    assert.throws(() => readUserRows("{}", "json"), /not a JSON array/);
    assert.throws(() => readUserRows("[]", "json"), /holds no users/);
    assert.throws(
      () => readUserRows(JSON.stringify(Array(USERS_IMPORT_MAX_ROWS + 1).fill({})), "json"),
      /holds more than 100000 users/,
    );
  });
});

describe("validateUserRows", () => {
  const row = (where: string, fields: Record<string, unknown>) => ({ where, fields });

  it("accepts good rows, defaulting the role to member, and names the hash's format", () => {
    const { users, problems } = validateUserRows([
      row("line 2", { username: "alice", email: "a@x.example", password_hash: BCRYPT, role: "" }),
      row("line 3", {
        username: "bob_b",
        email: "b@x.example",
        password_hash: PBKDF2,
        role: "admin",
      }),
    ]);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      users.map((u) => [u.username, u.role, u.hashKind]),
      [
        ["alice", "member", "bcrypt"],
        ["bob_b", "admin", "werkzeug-pbkdf2"],
      ],
    );
  });

  it("finds duplicates within the file case-insensitively, and names the first row", () => {
    const { users, problems } = validateUserRows([
      row("line 2", { username: "alice", email: "a@x.example", password_hash: BCRYPT }),
      row("line 3", { username: "ALICE", email: "A@X.EXAMPLE", password_hash: BCRYPT }),
    ]);
    assert.equal(users.length, 1);
    assert.deepEqual(problems, [
      { where: "line 3", message: "username: the same as on line 2" },
      { where: "line 3", message: "email: the same as on line 2" },
    ]);
  });

  it("refuses hashes Strongroom could never verify, without quoting them", () => {
    const bad = [
      "hunter2",
      "md5$abc$def",
      BCRYPT.replace("$2b$04$", "$2b$31$"),
      PBKDF2.replace(/^pbkdf2:(\w+):\d+\$/, "pbkdf2:$1$"),
      "$argon2id$v=19$m=1,t=1,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
    ];
    const { users, problems } = validateUserRows(
      bad.map((hash, i) =>
        row(`line ${i + 2}`, {
          username: `user${i}x`,
          email: `${i}@x.example`,
          password_hash: hash,
        }),
      ),
    );
    assert.equal(users.length, 0);
    assert.equal(problems.length, bad.length);
    for (const [i, problem] of problems.entries()) {
      assert.match(problem.message, /^password_hash: /);
      assert.ok(!problem.message.includes(bad[i] ?? "?"));
    }
  });
});

describe("findTakenUsers", () => {
  it("matches existing accounts' keys: usernames and e-mail addresses, case-insensitively", () => {
    const { users } = validateUserRows([
      {
        where: "line 2",
        fields: { username: "Alice", email: "new@x.example", password_hash: BCRYPT },
      },
      {
        where: "line 3",
        fields: { username: "carol", email: "Bob@X.example", password_hash: BCRYPT },
      },
    ]);
    assert.deepEqual(
      findTakenUsers(users, {
        usernameKeys: new Set(["alice"]),
        emailKeys: new Set(["bob@x.example"]),
      }),
      [
        { where: "line 2", message: "username: already taken by an existing user" },
        { where: "line 3", message: "email: already used by an existing user" },
      ],
    );
  });
});

import assert from "node:assert/strict";
import { readFileSync, truncateSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import type { SignedIn } from "../helpers/accounts.js";
import { createTestUser, signIn } from "../helpers/accounts.js";
import { testDatabaseTargets } from "../helpers/databases.js";
import type { ImportHarness } from "./harness.js";
import {
  assertCleanLines,
  callApi,
  countRows,
  createImportHarness,
  makeFernetToken,
} from "./harness.js";

/** Tokens written by Python's cryptography (scripts/make-fernet-fixtures.py). */
const python = JSON.parse(
  readFileSync(new URL("../fixtures/fernet-tokens.json", import.meta.url), "utf8"),
) as {
  key: string;
  other_key: string;
  cases: Array<{ label: string; token: string; plaintext_b64: string }>;
};
const token = (label: string): string => {
  const found = python.cases.find((c) => c.label === label);
  assert.ok(found, label);
  return found.token;
};
const plaintext = (label: string): string => {
  const found = python.cases.find((c) => c.label === label);
  assert.ok(found, label);
  return Buffer.from(found.plaintext_b64, "base64").toString("utf8");
};

/** A file of four good entries, all made by Python. */
const GOOD = {
  API_KEY: token("ascii"),
  GREETING: token("unicode"),
  BLOCK: token("block-aligned"),
  LONG_VALUE: token("long"),
};

async function reveal(
  h: ImportHarness,
  session: SignedIn,
  vault: string,
  name: string,
  version?: number,
): Promise<{ status: number; value?: string; version?: number }> {
  const suffix = version === undefined ? "" : `/versions/${version}`;
  const response = await callApi(h.t, session, "GET", `/vaults/${vault}/secrets/${name}${suffix}`);
  if (response.statusCode !== 200) return { status: response.statusCode };
  const body = JSON.parse(response.body) as { value: string; version: number };
  return { status: 200, value: body.value, version: body.version };
}

for (const kind of testDatabaseTargets()) {
  describe(`strongroom import fernet (${kind.name})`, () => {
    let h: ImportHarness;
    let owner: SignedIn;
    let cleanup: () => Promise<void>;
    before(async () => {
      const database = await kind.create();
      cleanup = database.cleanup;
      h = await createImportHarness(database.target);
      await createTestUser(h.t, { username: "importer" });
      owner = await signIn(h.t, "importer");
      const vault = await callApi(h.t, owner, "POST", "/vaults", { slug: "flask-app" });
      assert.equal(vault.statusCode, 201, vault.body);
      const existing = await callApi(h.t, owner, "PUT", "/vaults/flask-app/secrets/API_KEY", {
        value: "the value before the import",
      });
      assert.equal(existing.statusCode, 201, existing.body);
    });
    after(async () => {
      await h.close();
      await cleanup();
    });

    it("imports every entry in one go: new secrets, and a new version of an existing one", async () => {
      const keyFile = h.file("fernet.key", `${python.key}\n`);
      const file = h.file("secrets.json", JSON.stringify(GOOD));
      const before = await countRows(h.t);
      const result = await h.cli([
        "import",
        "fernet",
        "--vault",
        "flask-app",
        "--key-file",
        keyFile,
        file,
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "imported 4 secrets into flask-app: 3 new, 1 updated\n");
      // Not a terminal: one plain progress line, nothing redrawn.
      assert.match(result.stderr, /^imported 4\/4 {2}100% {2}\d+ rows\/s\n$/);

      for (const [name, label] of [
        ["API_KEY", "ascii"],
        ["GREETING", "unicode"],
        ["BLOCK", "block-aligned"],
        ["LONG_VALUE", "long"],
      ] as const) {
        const secret = await reveal(h, owner, "flask-app", name);
        assert.equal(secret.status, 200, name);
        assert.equal(secret.value, plaintext(label), name);
      }
      assert.equal((await reveal(h, owner, "flask-app", "API_KEY")).version, 2);
      const history = await reveal(h, owner, "flask-app", "API_KEY", 1);
      assert.equal(history.value, "the value before the import", "the old version is kept");

      const after = await countRows(h.t);
      assert.equal(after.secrets - before.secrets, 3);
      assert.equal(after.secret_versions - before.secret_versions, 4);
      const events = await h.t.database.db
        .selectFrom("audit_events")
        .select(["action", "actor_name", "actor_id", "target", "details"])
        .where("actor_name", "=", "cli")
        .orderBy("seq")
        .execute();
      assert.deepEqual(
        events.map((e) => [e.action, e.target]),
        [
          ["secret.write", "flask-app/API_KEY"],
          ["secret.write", "flask-app/GREETING"],
          ["secret.write", "flask-app/BLOCK"],
          ["secret.write", "flask-app/LONG_VALUE"],
          ["secret.import", "flask-app"],
        ],
      );
      assert.ok(events.every((e) => e.actor_id === null));
      assert.deepEqual(JSON.parse(events.at(-1)?.details ?? "{}"), {
        source: "fernet",
        created: 3,
        updated: 1,
      });
      for (const value of Object.values(GOOD))
        assert.ok(!result.stdout.includes(value) && !result.stderr.includes(value));
      const verify = await h.cli(["audit", "verify"]);
      assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    });

    it("one bad entry: names it, writes nothing, and --partial imports the rest (exit 1)", async () => {
      const tampered = Buffer.from(token("ascii"), "base64url");
      tampered[30] = (tampered[30] ?? 0) ^ 1;
      const file = h.file(
        "one-bad.json",
        JSON.stringify({ PARTIAL_OK: token("ascii"), PARTIAL_BAD: tampered.toString("base64url") }),
      );
      const before = await countRows(h.t);
      const refused = await h.cli(["import", "fernet", "--vault", "flask-app", file], {
        FERNET_KEY: python.key,
      });
      assert.equal(refused.code, 1);
      assert.deepEqual(assertCleanLines(refused.stderr, "import fernet"), [
        "strongroom: import fernet: PARTIAL_BAD: the token does not verify with this key",
        "strongroom: import fernet: nothing imported: 1 of 2 entries are bad (--partial imports the other 1)",
      ]);
      assert.equal(refused.stdout, "");
      assert.deepEqual(await countRows(h.t), before);
      assert.equal((await reveal(h, owner, "flask-app", "PARTIAL_OK")).status, 404);

      const partial = await h.cli(["import", "fernet", "--vault", "flask-app", "--partial", file], {
        FERNET_KEY: python.key,
      });
      assert.equal(partial.code, 1, "not everything was imported");
      assert.equal(partial.stdout, "imported 1 secrets into flask-app: 1 new, 0 updated\n");
      assert.match(partial.stderr, /PARTIAL_BAD: the token does not verify with this key\n/);
      assert.match(partial.stderr, /1 bad entries were not imported\n$/);
      assert.equal((await reveal(h, owner, "flask-app", "PARTIAL_OK")).value, "hello");
      assert.equal((await reveal(h, owner, "flask-app", "PARTIAL_BAD")).status, 404);
    });
  });
}

describe("strongroom import fernet: refusals", () => {
  let h: ImportHarness;
  let owner: SignedIn;
  before(async () => {
    h = await createImportHarness();
    await createTestUser(h.t, { username: "importer" });
    owner = await signIn(h.t, "importer");
    assert.equal(
      (await callApi(h.t, owner, "POST", "/vaults", { slug: "flask-app" })).statusCode,
      201,
    );
  });
  after(() => h.close());

  /** Runs an import that must be refused and asserts that nothing was written. */
  async function refused(
    args: string[],
    env: NodeJS.ProcessEnv = { FERNET_KEY: python.key },
    code = 1,
  ): Promise<string[]> {
    const before = await countRows(h.t);
    const result = await h.cli(["import", "fernet", ...args], env);
    assert.equal(result.code, code, result.stderr);
    assert.equal(result.stdout, "");
    assert.deepEqual(await countRows(h.t), before, "nothing written");
    return assertCleanLines(result.stderr, "import fernet");
  }

  it("every kind of bad entry is named, with the reason, and nothing is written", async () => {
    const key = python.key;
    const file = h.file(
      "bad.json",
      JSON.stringify({
        GOOD_ONE: token("ascii"),
        "1_STARTS_WITH_DIGIT": token("ascii"),
        "bad\u001b[31mname": token("ascii"),
        NOT_A_STRING: 42,
        EMPTY_VALUE: token("empty"),
        OTHER_KEY: makeFernetToken(python.other_key, Buffer.from("x")),
        TRUNCATED: token("ascii").slice(0, 40),
        NOT_BASE64: "gAAAA*not-base64",
        NOT_UTF8: makeFernetToken(key, Buffer.from([0xff, 0xfe, 0x00])),
        TOO_LARGE: makeFernetToken(key, Buffer.alloc(64 * 1024 + 1, "a")),
      }),
    );
    const lines = await refused(["--vault", "flask-app", file]);
    assert.deepEqual(lines, [
      "strongroom: import fernet: 1_STARTS_WITH_DIGIT: not a valid secret name (a letter or _, then up to 127 of A-Z a-z 0-9 _ . -)",
      'strongroom: import fernet: "bad\\u{1b}[31mname": not a valid secret name (a letter or _, then up to 127 of A-Z a-z 0-9 _ . -)',
      "strongroom: import fernet: NOT_A_STRING: the value is not a string (a Fernet token)",
      "strongroom: import fernet: EMPTY_VALUE: the decrypted value is empty",
      "strongroom: import fernet: OTHER_KEY: the token does not verify with this key",
      "strongroom: import fernet: TRUNCATED: the token has the wrong length",
      "strongroom: import fernet: NOT_BASE64: the token is not base64url",
      "strongroom: import fernet: NOT_UTF8: the decrypted value is not UTF-8 text",
      "strongroom: import fernet: TOO_LARGE: the decrypted value is larger than 65536 bytes",
      "strongroom: import fernet: nothing imported: 9 of 10 entries are bad (--partial imports the other 1)",
    ]);
    assert.equal((await reveal(h, owner, "flask-app", "GOOD_ONE")).status, 404);
  });

  it("the whole file with another key: every entry named; --partial imports nothing", async () => {
    const file = h.file("all.json", JSON.stringify(GOOD));
    const lines = await refused(["--vault", "flask-app", "--partial", file], {
      FERNET_KEY: python.other_key,
    });
    assert.equal(lines.length, 5);
    assert.equal(lines[4], "strongroom: import fernet: nothing imported: 4 of 4 entries are bad");
  });

  it("files that are not an export: one line each", async () => {
    const cases: Array<[string, string | Buffer, RegExp]> = [
      ["not-json.json", "API_KEY=gAAAA", /not-json\.json is not JSON/],
      ["array.json", JSON.stringify([token("ascii")]), /array\.json is not a JSON object/],
      ["null.json", "null", /null\.json is not a JSON object/],
      ["empty.json", "{}", /empty\.json holds no secrets/],
      ["latin1.json", Buffer.from([0x7b, 0xe9, 0x7d]), /latin1\.json is not UTF-8 text/],
    ];
    for (const [name, content, pattern] of cases) {
      const lines = await refused(["--vault", "flask-app", h.file(name, content)]);
      assert.equal(lines.length, 1, name);
      assert.match(lines[0] ?? "", pattern);
    }
    const missing = await refused(["--vault", "flask-app", `${h.cwd}/missing.json`]);
    assert.match(missing[0] ?? "", /missing\.json: no such file$/);
    const directory = await refused(["--vault", "flask-app", h.cwd]);
    assert.match(directory[0] ?? "", /is not a regular file$/);
    const huge = h.file("huge.json", "");
    truncateSync(huge, 64 * 1024 * 1024 + 1); // sparse: refused by size before any read
    const tooLarge = await refused(["--vault", "flask-app", huge]);
    assert.match(tooLarge[0] ?? "", /huge\.json is larger than 64 MiB$/);
  });

  it("a vault that does not exist, or a slug that cannot be one", async () => {
    const file = h.file("good.json", JSON.stringify(GOOD));
    assert.deepEqual(await refused(["--vault", "no-such-vault", file]), [
      'strongroom: import fernet: there is no vault "no-such-vault" (create it first); nothing imported',
    ]);
    const usage = await refused(["--vault", "Not A Slug", file], undefined, 2);
    assert.match(usage[0] ?? "", /--vault must be a vault slug/);
  });

  it("key sources: none, two, a malformed key, a key file others can read", async () => {
    const file = h.file("good.json", JSON.stringify(GOOD));
    const none = await refused(["--vault", "flask-app", file], {}, 2);
    assert.match(none[0] ?? "", /no key: give --key-file PATH, set FERNET_KEY, or give --key$/);
    const keyFile = h.file("fernet.key", python.key);
    const both = await refused(
      ["--vault", "flask-app", "--key", python.key, "--key-file", keyFile, file],
      {},
      2,
    );
    assert.match(both.at(-1) ?? "", /--key or --key-file, not both$/);
    const malformed = await refused(["--vault", "flask-app", file], { FERNET_KEY: "short" });
    assert.deepEqual(malformed, [
      "strongroom: import fernet: FERNET_KEY: the key must decode to 32 bytes",
    ]);
    const open = h.file("open.key", python.key, 0o644);
    const tooOpen = await refused(["--vault", "flask-app", "--key-file", open, file], {});
    assert.match(tooOpen[0] ?? "", /open\.key is accessible by group or others \(mode 0644\)/);
    for (const lines of [none, both, malformed, tooOpen])
      assert.ok(!lines.join("\n").includes(python.key), "the key is never printed");
  });

  it("--key works but warns that other users can see it; --dry-run writes nothing", async () => {
    const file = h.file("dry.json", JSON.stringify({ DRY_ONE: token("ascii") }));
    const before = await countRows(h.t);
    const dry = await h.cli([
      "import",
      "fernet",
      "--vault",
      "flask-app",
      "--key",
      python.key,
      "--dry-run",
      file,
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.equal(
      dry.stdout,
      "dry run: would import 1 secrets into flask-app: 1 new, 0 updated; nothing was written\n",
    );
    assert.equal(
      dry.stderr,
      "strongroom: import fernet: warning: a key on the command line is visible to other local users; prefer --key-file or FERNET_KEY\n",
    );
    assert.deepEqual(await countRows(h.t), before);
    const real = await h.cli([
      "import",
      "fernet",
      "--vault",
      "flask-app",
      "--key",
      python.key,
      file,
    ]);
    assert.equal(real.code, 0, real.stderr);
    assert.equal((await reveal(h, owner, "flask-app", "DRY_ONE")).value, "hello");
  });

  it("--help documents the command", async () => {
    const help = await h.cli(["import", "fernet", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: strongroom import fernet \[options\] <file>/);
    assert.match(help.stdout, /--key-file <path>/);
    assert.match(help.stdout, /Examples:/);
  });
});

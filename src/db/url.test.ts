import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DatabaseUrlError, describeDatabaseTarget, parseDatabaseUrl } from "./url.js";

describe("parseDatabaseUrl", () => {
  it("reads relative, absolute and in-memory SQLite URLs", () => {
    assert.deepEqual(parseDatabaseUrl("sqlite://./data/strongroom.db"), {
      kind: "sqlite",
      path: "./data/strongroom.db",
    });
    assert.deepEqual(parseDatabaseUrl("sqlite://data/x.db"), { kind: "sqlite", path: "data/x.db" });
    assert.deepEqual(parseDatabaseUrl("sqlite:///var/lib/strongroom/db.sqlite"), {
      kind: "sqlite",
      path: "/var/lib/strongroom/db.sqlite",
    });
    assert.deepEqual(parseDatabaseUrl("sqlite://:memory:"), { kind: "sqlite", path: ":memory:" });
  });

  it("reads postgres:// and postgresql:// URLs unchanged", () => {
    for (const url of [
      "postgres://app:s3cret@db.internal:5432/strongroom",
      "postgresql://app@127.0.0.1/strongroom?sslmode=require",
      "postgres://[::1]:5432/test",
      "postgres:///strongroom?host=/var/run/postgresql",
    ]) {
      assert.deepEqual(parseDatabaseUrl(url), { kind: "postgres", url });
    }
  });

  it("takes ?schema= out of the URL", () => {
    assert.deepEqual(
      parseDatabaseUrl("postgres://app@db/strongroom?schema=tenant_a&sslmode=require"),
      {
        kind: "postgres",
        url: "postgres://app@db/strongroom?sslmode=require",
        schema: "tenant_a",
      },
    );
  });

  const rejected: Array<[input: string, message: RegExp]> = [
    ["", /empty/],
    ["   ", /empty/],
    ["mysql://root:pw@localhost/db", /must start with sqlite:\/\/ or postgres:\/\//],
    ["not a url", /must start with sqlite:\/\/ or postgres:\/\//],
    ["/var/lib/strongroom.db", /must start with/],
    ["sqlite:relative.db", /must start with/],
    ["sqlite://", /sqlite:\/\/ needs a file path/],
    ["sqlite://bad\0name.db", /NUL/],
    ["postgres://", /no host/],
    ["postgres:///strongroom", /no host/],
    ["postgres://user:hunter2@[bad/db", /malformed/],
    ["postgres://user:hunter2@db/x?schema=Robert'); drop table users;--", /schema must be/],
    ["postgres://db/x?schema=", /schema must be/],
    [`postgres://db/x?schema=${"a".repeat(64)}`, /schema must be/],
  ];
  for (const [input, message] of rejected) {
    it(`rejects ${JSON.stringify(input.slice(0, 40))} without echoing it`, () => {
      assert.throws(
        () => parseDatabaseUrl(input),
        (error: unknown) => {
          assert.ok(error instanceof DatabaseUrlError);
          assert.equal(error.name, "DatabaseUrlError");
          assert.match(error.message, message);
          assert.doesNotMatch(error.message, /hunter2|root:pw/);
          return true;
        },
      );
    });
  }
});

describe("describeDatabaseTarget", () => {
  it("masks the password and keeps the rest", () => {
    const target = parseDatabaseUrl("postgres://app:hunter2@db.internal:5432/strongroom");
    assert.equal(describeDatabaseTarget(target), "postgres://app:***@db.internal:5432/strongroom");
  });

  it("masks a password given as a query parameter, and shows the schema", () => {
    const target = parseDatabaseUrl("postgres://app@db/strongroom?password=hunter2&schema=s1");
    const text = describeDatabaseTarget(target);
    assert.doesNotMatch(text, /hunter2/);
    assert.match(text, /password=\*\*\*/);
    assert.match(text, /schema=s1/);
  });

  it("leaves a URL without a password as it is", () => {
    assert.equal(
      describeDatabaseTarget({ kind: "postgres", url: "postgres://postgres@127.0.0.1:5432/test" }),
      "postgres://postgres@127.0.0.1:5432/test",
    );
  });

  it("renders SQLite targets as URLs and never throws on a malformed one", () => {
    assert.equal(
      describeDatabaseTarget({ kind: "sqlite", path: "./data/x.db" }),
      "sqlite://./data/x.db",
    );
    assert.equal(
      describeDatabaseTarget({ kind: "postgres", url: "postgres://u:hunter2@[bad" }),
      "postgres://(malformed URL)",
    );
  });
});

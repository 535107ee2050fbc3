// Fail-closed auditing: whatever hands out a secret value, or all of them, does so only once
// its audit event is committed. Each case makes the audit write fail (the audit table renamed
// away) and checks that nothing of the value came out, then that it works again afterwards.
// The API's reveal of a secret and of a version: test/vaults/secrets.test.ts; share links
// (creation and views): test/shares/shares.test.ts.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { sql } from "kysely";
import { createBackup } from "../../src/backup/backup.service.js";
import type { Db } from "../../src/db/schema.js";
import { createApiToken } from "../../src/tokens/tokens.service.js";
import { asSession, createTestUser, type SignedIn, signIn } from "../helpers/accounts.js";
import { createTestApp, type TestApp } from "../helpers/app.js";
import type { TestServer } from "../helpers/browser.js";
import { createServerUser, startTestServer } from "../helpers/browser.js";
import { runCli } from "../helpers/process.js";

const VALUE = "fail-closed-value-7f3a";

/** Runs `work` while no audit event can be written. */
async function withoutAuditTable<T>(db: Db, work: () => Promise<T>): Promise<T> {
  await sql`alter table audit_events rename to audit_events_away`.execute(db);
  try {
    return await work();
  } finally {
    await sql`alter table audit_events_away rename to audit_events`.execute(db);
  }
}

describe("fail-closed auditing in the web UI and backups", () => {
  let t: TestApp;
  let owner: SignedIn;
  before(async () => {
    t = await createTestApp();
    await createTestUser(t, { username: "closed_owner" });
    owner = await signIn(t, "closed_owner");
    const api = (method: "POST" | "PUT", url: string, payload: Record<string, unknown>) =>
      t.app.inject({ method, url: `/api/v1${url}`, headers: asSession(owner), payload });
    assert.equal((await api("POST", "/vaults", { slug: "closed" })).statusCode, 201);
    assert.equal(
      (await api("PUT", "/vaults/closed/secrets/KEY", { value: VALUE })).statusCode,
      201,
    );
  });
  after(async () => {
    await t.close();
  });

  it("the Reveal page shows no value when the reveal cannot be audited", async () => {
    const reveal = () =>
      t.app.inject({
        method: "POST",
        url: "/vaults/closed/secrets/KEY/reveal",
        headers: { cookie: owner.cookie, accept: "text/html" },
        payload: { _csrf: owner.csrfToken },
      });
    const refused = await withoutAuditTable(t.database.db, reveal);
    assert.ok(refused.statusCode >= 500, `${refused.statusCode}`);
    assert.ok(!refused.body.includes(VALUE));
    const shown = await reveal();
    assert.equal(shown.statusCode, 200);
    assert.ok(shown.body.includes(VALUE));
  });

  it("a backup is not left behind when its audit event cannot be written", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strongroom-fail-closed-"));
    const path = join(dir, "backup.srb");
    const backup = () =>
      createBackup(t.database.db, path, {
        secret: { kind: "master-key", keyring: t.config.masterKeys },
        actor: { id: null, name: "test" },
        now: () => new Date(),
      });
    await assert.rejects(withoutAuditTable(t.database.db, backup));
    assert.deepEqual(readdirSync(dir), [], "no backup file, not even a partial one");
    await backup();
    assert.ok(existsSync(path));
  });
});

describe("fail-closed auditing in the CLI client (get, export, run)", () => {
  let server: TestServer;
  let token: string;
  let cwd: string;
  before(async () => {
    cwd = mkdtempSync(join(tmpdir(), "strongroom-fail-closed-cli-"));
    server = await startTestServer();
    const user = await createServerUser(server, { username: "closed_cli" });
    const db = server.server.database.db;
    const csrf = await fetch(`${server.url}/api/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "closed_cli", password: "violet-lantern-orbit-29-quartz" }),
    });
    const cookie = (csrf.headers.get("set-cookie") ?? "").split(";")[0] ?? "";
    const { csrfToken } = (await csrf.json()) as { csrfToken: string };
    const headers = { cookie, "x-csrf-token": csrfToken, "content-type": "application/json" };
    const vault = await fetch(`${server.url}/api/v1/vaults`, {
      method: "POST",
      headers,
      body: JSON.stringify({ slug: "cli-closed" }),
    });
    assert.equal(vault.status, 201);
    for (const name of ["FIRST", "SECOND"]) {
      const put = await fetch(`${server.url}/api/v1/vaults/cli-closed/secrets/${name}`, {
        method: "PUT",
        headers,
        body: JSON.stringify({ value: `${VALUE}-${name}` }),
      });
      assert.equal(put.status, 201);
    }
    token = (
      await createApiToken(db, {
        userId: user.id,
        username: user.username,
        name: "fail-closed",
        scopes: [{ vault: "cli-closed", permission: "read" }],
        expiresInDays: 1,
        now: new Date(),
        address: "127.0.0.1",
      })
    ).token;
  });
  after(async () => {
    await server?.stop();
  });

  const cli = (args: string[]) =>
    runCli(args, { STRONGROOM_URL: server.url, STRONGROOM_TOKEN: token }, cwd);

  for (const [label, args] of [
    ["get", ["get", "cli-closed/FIRST"]],
    ["export env", ["export", "cli-closed"]],
    ["export json", ["export", "cli-closed", "--format", "json"]],
    [
      "run",
      [
        "run",
        "--vault",
        "cli-closed",
        "--",
        process.execPath,
        "-e",
        "console.log(process.env.FIRST)",
      ],
    ],
  ] as const) {
    it(`${label} prints no value and fails when the reveals cannot be audited`, async () => {
      const refused = await withoutAuditTable(server.server.database.db, () => cli([...args]));
      assert.notEqual(refused.code, 0);
      assert.ok(!refused.stdout.includes(VALUE), refused.stdout);
      assert.ok(!refused.stderr.includes(VALUE), refused.stderr);
      const works = await cli([...args]);
      assert.equal(works.code, 0, works.stderr);
      assert.ok(works.stdout.includes(VALUE));
    });
  }
});

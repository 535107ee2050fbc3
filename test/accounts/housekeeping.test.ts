// Ended credentials are removed, not only refused: sessions past either timeout, used or
// expired reset links, unconfirmed sign-ups past their day, stale passkey challenges — and
// nothing that is still live. On the test engine (TEST_ENGINE=postgres for PostgreSQL).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { purgeEndedCredentials, startHousekeeping } from "../../src/accounts/housekeeping.js";
import { createUser } from "../../src/accounts/registration.service.js";
import type { Db } from "../../src/db/schema.js";
import { startServer } from "../../src/main.js";
import { createTestUser, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

const HOUR = 60 * 60_000;
const at = (base: Date, offsetMs: number): string =>
  new Date(base.getTime() + offsetMs).toISOString();
const rowId = (): string => randomBytes(16).toString("hex");

/** Rows of each kind, one ended and one live per way of ending, around `now`. */
async function seed(db: Db, userId: string, now: Date): Promise<void> {
  const session = (expires: number, idle: number) => ({
    id: rowId(),
    user_id: userId,
    created_at: at(now, -2 * HOUR),
    last_seen_at: at(now, -HOUR),
    expires_at: at(now, expires),
    idle_expires_at: at(now, idle),
    reauth_at: null,
    mfa_verified_at: null,
    ip: null,
    user_agent: null,
  });
  await db
    .insertInto("sessions")
    .values([
      { ...session(-1, HOUR), user_agent: "ended-absolute" },
      { ...session(HOUR, 0), user_agent: "ended-idle (at this very moment)" },
      { ...session(HOUR, 1), user_agent: "live" },
    ])
    .execute();
  const link = (expires: number, used: string | null, note: string) => ({
    token_hash: `${note}-${rowId()}`,
    user_id: userId,
    created_at: at(now, -10 * 60_000),
    expires_at: at(now, expires),
    used_at: used,
  });
  await db
    .insertInto("password_reset_tokens")
    .values([
      link(-1, null, "expired"),
      link(HOUR, at(now, -60_000), "used"),
      link(HOUR, null, "live"),
    ])
    .execute();
  const signUp = (expires: number, name: string) => ({
    token_hash: rowId(),
    user_id: rowId(),
    username: name,
    username_key: name,
    email: `${name}@example.test`,
    email_key: `${name}@example.test`,
    password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
    created_at: at(now, -24 * HOUR),
    expires_at: at(now, expires),
  });
  await db
    .insertInto("pending_registrations")
    .values([signUp(-1, "pending_ended"), signUp(HOUR, "pending_live")])
    .execute();
  const challenge = (expires: number) => ({
    id: rowId(),
    challenge: rowId(),
    purpose: "authenticate" as const,
    user_id: null,
    expires_at: at(now, expires),
  });
  await db
    .insertInto("webauthn_challenges")
    .values([challenge(-1), challenge(5 * 60_000)])
    .execute();
}

describe("removing ended credentials", () => {
  let t: TestApp;

  before(async () => {
    t = await createTestApp();
  });
  after(async () => {
    await t?.close();
  });

  it("deletes exactly the ended rows of each kind and keeps every live one", async () => {
    const db = t.database.db;
    const user = await createTestUser(t, { username: "keeper" });
    const live = await signIn(t, "keeper");
    const now = t.clock.now();
    await seed(db, user.id, now);

    const purged = await purgeEndedCredentials(db, now);
    assert.deepEqual(purged, {
      sessions: 2,
      resetLinks: 2,
      pendingRegistrations: 1,
      webauthnChallenges: 1,
    });

    const agents = await db.selectFrom("sessions").select("user_agent").execute();
    assert.deepEqual(agents.map((row) => row.user_agent).sort(), ["lightMyRequest", "live"]);
    const links = await db.selectFrom("password_reset_tokens").select("token_hash").execute();
    assert.deepEqual(
      links.map((row) => row.token_hash.split("-")[0]),
      ["live"],
    );
    const pending = await db.selectFrom("pending_registrations").select("username").execute();
    assert.deepEqual(pending, [{ username: "pending_live" }]);
    assert.equal((await db.selectFrom("webauthn_challenges").select("id").execute()).length, 1);
    // The real session made by signing in is live and still works.
    const me = await t.app.inject({ url: "/api/v1/me", headers: { cookie: live.cookie } });
    assert.equal(me.statusCode, 200, me.body);

    assert.deepEqual(await purgeEndedCredentials(db, now), {
      sessions: 0,
      resetLinks: 0,
      pendingRegistrations: 0,
      webauthnChallenges: 0,
    });
  });

  it("runs at once and then on its interval, logs what it removed, and stops cleanly", async (test) => {
    const own = await createTestApp();
    test.after(() => own.close());
    const db = own.database.db;
    const user = await createTestUser(own, { username: "swept" });
    const lines: string[] = [];
    const logger = pino(
      { level: "info" },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    let now = own.clock.now();
    await seed(db, user.id, now);
    const stop = startHousekeeping({ db, logger, now: () => now, intervalMs: 20 });
    const logged = async (count: number): Promise<void> => {
      for (let waited = 0; lines.length < count; waited += 10) {
        assert.ok(waited < 5_000, `housekeeping logged ${lines.length} of ${count} passes`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    await logged(1);
    const first = JSON.parse(lines[0] ?? "{}") as { msg: string; purged: unknown };
    assert.equal(first.msg, "ended credentials removed");
    assert.deepEqual(first.purged, {
      sessions: 2,
      resetLinks: 2,
      pendingRegistrations: 1,
      webauthnChallenges: 1,
    });
    // Two hours on, what was live has ended too; the next pass removes it.
    now = new Date(now.getTime() + 2 * HOUR);
    await logged(2);
    await stop();
    assert.equal(
      (
        await db
          .selectFrom("pending_registrations")
          .select("username")
          .where("username", "=", "pending_live")
          .execute()
      ).length,
      0,
    );
    const after = lines.length;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(lines.length, after, "no pass after stop");
    assert.ok(
      lines.every((line) => !line.includes("argon2id")),
      "no hash in the log",
    );
  });
});

describe("the server removes ended credentials when it starts", () => {
  it("deletes a session that ended while it was down", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "strongroom-housekeeping-"));
    // The zero-configuration start (SQLite in ./data): the wiring is the same on any engine.
    const env = { NODE_ENV: "development", PORT: "0", LOG_LEVEL: "silent" };
    try {
      const first = await startServer(env, cwd);
      const user = await createUser(
        first.database.db,
        { config: first.config, now: () => new Date() },
        {
          username: "sleeper",
          email: "sleeper@example.test",
          password: "amber-harbor-velvet-41-kestrel",
          role: "member",
        },
        { id: null, name: "test", address: null },
      );
      await first.database.db
        .insertInto("sessions")
        .values({
          id: rowId(),
          user_id: user.id,
          created_at: at(new Date(), -3 * HOUR),
          last_seen_at: at(new Date(), -2 * HOUR),
          expires_at: at(new Date(), HOUR),
          idle_expires_at: at(new Date(), -HOUR),
          reauth_at: null,
          mfa_verified_at: null,
          ip: null,
          user_agent: "ended while down",
        })
        .execute();
      await first.stop();

      const second = await startServer(env, cwd);
      try {
        for (let waited = 0; ; waited += 20) {
          const rows = await second.database.db.selectFrom("sessions").select("id").execute();
          if (rows.length === 0) break;
          assert.ok(waited < 5_000, "the ended session is still there");
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { generateTotpCode } from "../../src/accounts/totp.js";
import { GENESIS_HASH, hashAuditRow } from "../../src/audit/audit.service.js";
import { asSession, createTestUser, GOOD_PASSWORD, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
before(async () => {
  t = await createTestApp();
});
after(async () => {
  await t.close();
});

describe("security events are audited", () => {
  it("records every account event in a hash chain that verifies, without secrets", async () => {
    await createTestUser(t, { username: "audited", email: "audited@example.test" });
    const login = (payload: Record<string, unknown>) =>
      t.app.inject({ method: "POST", url: "/api/v1/auth/login", payload });
    await login({ username: "audited", password: "wrong-password-for-audit" });
    for (let i = 0; i < 6; i++)
      await login({ username: "audited", password: `wrong-${i}-password-again` });
    // Lift the lockout the test just caused (the throttle keeps real time, not the test clock).
    const userId = (
      await t.database.db
        .selectFrom("users")
        .select("id")
        .where("username_key", "=", "audited")
        .executeTakeFirstOrThrow()
    ).id;
    await t.throttle
      .limiter({ name: "login-name-address", points: 5, durationSeconds: 900, blockSeconds: 900 })
      .reset("audited\n127.0.0.1");
    await t.throttle
      .limiter({ name: "login-account", points: 20, durationSeconds: 900, blockSeconds: 900 })
      .reset(userId);

    let session = await signIn(t, "audited");
    const start = JSON.parse(
      (
        await t.app.inject({
          method: "POST",
          url: "/api/v1/me/mfa/totp",
          headers: asSession(session),
        })
      ).body,
    );
    const confirm = await t.app.inject({
      method: "POST",
      url: "/api/v1/me/mfa/totp/confirm",
      headers: asSession(session),
      payload: { code: generateTotpCode(start.secret, t.clock.now().getTime()) },
    });
    const confirmed = JSON.parse(confirm.body);
    session = {
      ...session,
      cookie: String(confirm.headers["set-cookie"]).split(";")[0] ?? "",
      csrfToken: confirmed.csrfToken,
    };
    await t.app.inject({
      method: "DELETE",
      url: "/api/v1/me/mfa/totp",
      headers: asSession(session),
      payload: { password: GOOD_PASSWORD },
    });
    const other = await signIn(t, "audited");
    await t.app.inject({ method: "DELETE", url: "/api/v1/me/sessions", headers: asSession(other) });
    await t.app.inject({
      method: "POST",
      url: "/api/v1/me/password",
      headers: asSession(other),
      payload: { currentPassword: GOOD_PASSWORD, newPassword: "second-passphrase-for-audit-1" },
    });
    await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/password-reset",
      payload: { email: "audited@example.test" },
    });
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    const token = /token=([A-Za-z0-9_-]+)/.exec(t.mail.at(-1)?.text ?? "")?.[1] ?? "";
    await t.app.inject({
      method: "POST",
      url: "/api/v1/auth/password-reset/confirm",
      payload: { token, password: "third-passphrase-for-audit-2" },
    });
    const last = await signIn(t, "audited", "third-passphrase-for-audit-2");
    await t.app.inject({ method: "POST", url: "/api/v1/auth/logout", headers: asSession(last) });

    const rows = await t.database.db
      .selectFrom("audit_events")
      .selectAll()
      .orderBy("seq", "asc")
      .execute();
    const actions = new Set(
      rows.filter((r) => r.target === "audited" || r.actor_name === "audited").map((r) => r.action),
    );
    for (const action of [
      "user.create",
      "login.failure",
      "login.lockout",
      "login.throttled",
      "login.success",
      "mfa.enable",
      "mfa.disable",
      "session.revoke-others",
      "password.change",
      "password.reset-request",
      "password.reset",
      "logout",
    ]) {
      assert.ok(actions.has(action), `missing ${action}; have ${[...actions].join(", ")}`);
    }
    let previous = GENESIS_HASH;
    for (const row of rows) {
      assert.equal(row.prev_hash, previous, `chain link at ${row.action}`);
      const { seq: _seq, hash, ...rest } = row;
      assert.equal(hashAuditRow(rest), hash, `hash of ${row.action}`);
      previous = hash;
    }
    const everything = JSON.stringify(rows);
    for (const secret of [
      GOOD_PASSWORD,
      "second-passphrase-for-audit-1",
      "third-passphrase-for-audit-2",
      token,
      start.secret,
    ]) {
      assert.ok(!everything.includes(secret), "no secret in the audit log");
    }
  });
  it("audits a failed sign-in under the name typed only when it looks like one", async () => {
    const typed = [
      "nobody_here", // a username that does not exist
      "ghost@example.test", // an e-mail address that does not exist
      "amber-harbor-velvet-41-kestrel", // a password typed into the username field
      "Tr0ub4dor&3 with spaces",
    ];
    for (const username of typed) {
      const response = await t.app.inject({
        method: "POST",
        url: "/api/v1/auth/login",
        remoteAddress: "198.51.100.60",
        payload: { username, password: "whatever-it-was-1234" },
      });
      assert.equal(response.statusCode, 401, response.body);
    }
    const names = (
      await t.database.db
        .selectFrom("audit_events")
        .select("actor_name")
        .where("action", "=", "login.failure")
        .where("address", "=", "198.51.100.60")
        .orderBy("seq")
        .execute()
    ).map((row) => row.actor_name);
    assert.deepEqual(names, [
      "nobody_here",
      "ghost@example.test",
      "(not a username or e-mail address)",
      "(not a username or e-mail address)",
    ]);
  });
});

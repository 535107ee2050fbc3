import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import type { UserRow } from "../../src/accounts/users.repository.js";
import { findUserByUsernameKey } from "../../src/accounts/users.repository.js";
import { recordAuditEvent } from "../../src/audit/audit.service.js";
import type { SignedIn } from "../helpers/accounts.js";
import { asSession, createTestUser, GOOD_PASSWORD, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

const SCRIPT = "<script>alert(1)</script>";
const IMG = '"><img src=x onerror=alert(1)>';

let t: TestApp;

let admin: SignedIn;
let auditor: SignedIn;
let member: SignedIn;

before(async () => {
  // app.ts wires these pages; the test app captures mail in `t.mail`.
  t = await createTestApp();
  await createTestUser(t, { username: "page_admin", role: "admin" });
  await createTestUser(t, { username: "page_auditor", role: "auditor" });
  await createTestUser(t, { username: "page_member" });
  admin = await signIn(t, "page_admin");
  auditor = await signIn(t, "page_auditor");
  member = await signIn(t, "page_member");
});
after(async () => {
  await t.close();
});

const FORM = { "content-type": "application/x-www-form-urlencoded", accept: "text/html" };
const encode = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

function page(url: string, session?: SignedIn): Promise<LightMyRequestResponse> {
  return t.app.inject({
    url,
    headers: { accept: "text/html", ...(session ? { cookie: session.cookie } : {}) },
  });
}

/** A form post as the signed-in browser sends it, with the session's CSRF token. */
function post(
  url: string,
  session: SignedIn,
  fields: Record<string, string>,
  extraHeaders: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: "POST",
    url,
    headers: { ...FORM, cookie: session.cookie, ...extraHeaders },
    payload: encode({ _csrf: session.csrfToken, ...fields }),
  });
}

async function user(username: string): Promise<UserRow | null> {
  return findUserByUsernameKey(t.database.db, username.toLowerCase());
}

/** Every session row's id, sorted: to show an attempt ended none. */
async function sessionIds(): Promise<string[]> {
  const rows = await t.database.db.selectFrom("sessions").select("id").orderBy("id").execute();
  return rows.map((row) => row.id);
}

/** The flash a redirect set, as the list the browser is sent back to shows it. */
async function flashShown(response: LightMyRequestResponse, session: SignedIn): Promise<string> {
  const flash = response.cookies.find((c) => c.name === "strongroom_flash");
  assert.ok(flash, "a flash was set");
  const list = await t.app.inject({
    url: "/admin/users",
    headers: { accept: "text/html", cookie: `${session.cookie}; strongroom_flash=${flash.value}` },
  });
  return list.body;
}

/** The page's first link with this text, `&amp;` decoded. */
function linkHref(html: string, text: string): string | null {
  const match = new RegExp(`<a href="([^"]+)"[^>]*>${text}</a>`).exec(html);
  return match?.[1]?.replaceAll("&amp;", "&") ?? null;
}

/** The strict CSP holds only if pages carry no inline script, style or event handler. */
function assertNoInlineCode(html: string): void {
  assert.doesNotMatch(html, /<script(?![^>]*\ssrc=)[^>]*>/i, "no inline <script>");
  assert.doesNotMatch(html, /<style/i, "no <style>");
  assert.doesNotMatch(html, /<[a-z][^>]*\sstyle\s*=/i, "no style attribute");
  assert.doesNotMatch(html, /<[a-z][^>]*\son[a-z]+\s*=/i, "no event-handler attribute");
  assert.doesNotMatch(html, /javascript:/i, "no javascript: URL");
}

/** Usernames shown in the users table. */
function listedUsers(html: string): string[] {
  return [...html.matchAll(/<tr><td>([^<]*)<\/td>/g)].map((m) => m[1] ?? "");
}

describe("admin pages: access", () => {
  it("send a signed-out visitor to sign in, coming back afterwards", async () => {
    const users = await page("/admin/users?role=admin");
    assert.equal(users.statusCode, 303);
    assert.equal(users.headers.location, "/login?next=%2Fadmin%2Fusers%3Frole%3Dadmin");
    const audit = await page("/audit");
    assert.equal(audit.statusCode, 303);
    assert.equal(audit.headers.location, "/login?next=%2Faudit");
    const created = await t.app.inject({
      method: "POST",
      url: "/admin/users",
      headers: FORM,
      payload: encode({
        username: "anon_made",
        email: "anon@example.test",
        password: GOOD_PASSWORD,
      }),
    });
    assert.equal(created.statusCode, 303);
    assert.equal(created.headers.location, "/login?next=%2Fadmin%2Fusers");
    assert.equal(await user("anon_made"), null, "nothing created");
  });

  it("refuse members both pages with a 403 page", async () => {
    for (const url of ["/admin/users", "/audit"]) {
      const response = await page(url, member);
      assert.equal(response.statusCode, 403, url);
      assert.match(String(response.headers["content-type"]), /text\/html/);
      assert.ok(!response.body.includes("page_admin@example.test"), "no user data leaks");
    }
  });

  it("let auditors read the audit log but not manage users", async () => {
    assert.equal((await page("/audit", auditor)).statusCode, 200);
    assert.equal((await page("/admin/users", auditor)).statusCode, 403);
    const created = await post("/admin/users", auditor, {
      username: "auditor_made",
      email: "auditor_made@example.test",
      password: GOOD_PASSWORD,
    });
    assert.equal(created.statusCode, 403);
    assert.equal(await user("auditor_made"), null, "nothing created");
    const demoted = await post("/admin/users/page_admin/role", auditor, { role: "member" });
    assert.equal(demoted.statusCode, 403);
    assert.equal((await user("page_admin"))?.role, "admin", "nothing changed");
  });

  it("show administrators the users table without inline code", async () => {
    const response = await page("/admin/users", admin);
    assert.equal(response.statusCode, 200);
    assert.ok(listedUsers(response.body).includes("page_member"));
    assert.match(response.body, /page_member@example\.test/);
    assert.match(response.body, /<form method="post" action="\/admin\/users">/);
    assert.match(response.body, /data-confirm="Delete the user page_member\?/);
    assert.match(
      response.body,
      /action="\/admin\/users\/page_member\/sessions-end"[^>]*data-confirm="End every session of page_member\?/,
    );
    assert.match(response.body, /<button type="submit" aria-label="End sessions of page_member">/);
    assert.match(response.body, /<form method="post" action="\/admin\/sessions\/end-all"/);
    assert.match(response.body, />Sign everyone else out<\/button>/);
    assert.match(response.body, /<label for="field-password">/);
    assertNoInlineCode(response.body);
  });
});

describe("admin pages: every form needs the CSRF token", () => {
  const attempts: Array<{ url: string; fields: Record<string, string> }> = [
    {
      url: "/admin/users",
      fields: { username: "csrf_made", email: "csrf_made@example.test", password: GOOD_PASSWORD },
    },
    { url: "/admin/users/csrf_target/role", fields: { role: "admin" } },
    { url: "/admin/users/csrf_target/disabled", fields: { disabled: "true" } },
    { url: "/admin/users/csrf_target/delete", fields: {} },
    { url: "/admin/users/csrf_target/sessions-end", fields: {} },
    { url: "/admin/sessions/end-all", fields: {} },
  ];

  before(async () => {
    await createTestUser(t, { username: "csrf_target" });
    await signIn(t, "csrf_target");
  });

  for (const { url, fields } of attempts) {
    it(`POST ${url} without a token, with a wrong one or cross-site is a 403 and changes nothing`, async () => {
      const sessionsBefore = await sessionIds();
      const without = await t.app.inject({
        method: "POST",
        url,
        headers: { ...FORM, cookie: admin.cookie },
        payload: encode(fields),
      });
      assert.equal(without.statusCode, 403);
      const wrong = await t.app.inject({
        method: "POST",
        url,
        headers: { ...FORM, cookie: admin.cookie },
        payload: encode({ ...fields, _csrf: auditor.csrfToken }),
      });
      assert.equal(wrong.statusCode, 403, "another session's token");
      const crossSite = await post(url, admin, fields, { origin: "https://evil.example" });
      assert.equal(crossSite.statusCode, 403, "cross-site origin");
      const target = await user("csrf_target");
      assert.ok(target, "not deleted");
      assert.equal(target.role, "member");
      assert.equal(target.disabled_at, null);
      assert.equal(await user("csrf_made"), null, "nothing created");
      assert.deepEqual(await sessionIds(), sessionsBefore, "no session ended");
    });
  }
});

describe("admin pages: managing users", () => {
  it("create a user, then show the flash and the new row", async () => {
    const created = await post("/admin/users", admin, {
      username: "made_by_page",
      email: "made_by_page@example.test",
      role: "auditor",
      password: GOOD_PASSWORD,
    });
    assert.equal(created.statusCode, 303, created.body);
    assert.equal(created.headers.location, "/admin/users");
    const row = await user("made_by_page");
    assert.equal(row?.role, "auditor");
    const flash = created.cookies.find((c) => c.name === "strongroom_flash");
    assert.ok(flash);
    const list = await t.app.inject({
      url: "/admin/users",
      headers: { accept: "text/html", cookie: `${admin.cookie}; strongroom_flash=${flash.value}` },
    });
    assert.match(list.body, /User made_by_page created as auditor\./);
    assert.ok(listedUsers(list.body).includes("made_by_page"));
  });

  it("re-render the create form with errors, keeping input but never the password", async () => {
    const invalid = await post("/admin/users", admin, {
      username: "x!",
      email: "kept@example.test",
      role: "member",
      password: "weak-typed-pw",
    });
    assert.equal(invalid.statusCode, 400);
    assert.match(invalid.body, /aria-invalid="true"/);
    assert.match(invalid.body, /value="kept@example\.test"/);
    assert.ok(!invalid.body.includes("weak-typed-pw"), "the password is not echoed");
    assertNoInlineCode(invalid.body);

    const weak = await post("/admin/users", admin, {
      username: "weak_pw_user",
      email: "weak_pw_user@example.test",
      password: "short-pw-typed",
    });
    assert.equal(weak.statusCode, 400);
    assert.match(weak.body, /Use at least 15 characters\./);
    assert.match(weak.body, /value="weak_pw_user"/);
    assert.ok(!weak.body.includes("short-pw-typed"));
    assert.equal(await user("weak_pw_user"), null);

    const duplicate = await post("/admin/users", admin, {
      username: "page_member",
      email: "someone_new@example.test",
      password: GOOD_PASSWORD,
    });
    assert.equal(duplicate.statusCode, 409);
    assert.match(duplicate.body, /role="alert">A user with that username or e-mail address/);
    assert.match(duplicate.body, /value="someone_new@example\.test"/);
    assert.ok(!duplicate.body.includes(GOOD_PASSWORD));
  });

  it("change a role, refuse one that does not exist, and report unknown users", async () => {
    await createTestUser(t, { username: "role_target" });
    const target = await signIn(t, "role_target");
    const changed = await post("/admin/users/role_target/role", admin, { role: "auditor" });
    assert.equal(changed.statusCode, 303);
    assert.equal(changed.headers.location, "/admin/users");
    assert.equal((await user("role_target"))?.role, "auditor");
    assert.equal(
      (await page("/", target)).statusCode,
      303,
      "a role change ends the user's sessions",
    );

    const invalid = await post("/admin/users/role_target/role", admin, { role: "root" });
    assert.equal(invalid.statusCode, 400);
    assert.match(invalid.body, /role="alert">The role must be admin, auditor or member\./);
    assert.equal((await user("role_target"))?.role, "auditor", "unchanged");

    const unknown = await post("/admin/users/nobody_here/role", admin, { role: "member" });
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.body, /There is no such user\./);
  });

  it("disable and enable a user", async () => {
    await createTestUser(t, { username: "disable_me" });
    const session = await signIn(t, "disable_me");
    const disabled = await post("/admin/users/disable_me/disabled", admin, { disabled: "true" });
    assert.equal(disabled.statusCode, 303);
    assert.notEqual((await user("disable_me"))?.disabled_at, null);
    assert.equal((await page("/", session)).statusCode, 303, "their session ended");
    const list = await page("/admin/users?query=disable_me", admin);
    assert.match(list.body, /<td>Disabled<\/td>/);
    assert.match(list.body, /<input type="hidden" name="disabled" value="false"\/>/);

    const enabled = await post("/admin/users/disable_me/disabled", admin, { disabled: "false" });
    assert.equal(enabled.statusCode, 303);
    assert.equal((await user("disable_me"))?.disabled_at, null);

    const invalid = await post("/admin/users/disable_me/disabled", admin, { disabled: "maybe" });
    assert.equal(invalid.statusCode, 400);
    assert.equal((await user("disable_me"))?.disabled_at, null);
  });

  it("refuse to demote, disable or delete the last administrator (409)", async () => {
    for (const [url, fields] of [
      ["/admin/users/page_admin/role", { role: "member" }],
      ["/admin/users/page_admin/disabled", { disabled: "true" }],
      ["/admin/users/page_admin/delete", {}],
    ] as const) {
      const response = await post(url, admin, fields);
      assert.equal(response.statusCode, 409, url);
      assert.match(response.body, /role="alert">This is the last enabled administrator/);
      assertNoInlineCode(response.body);
    }
    const row = await user("page_admin");
    assert.equal(row?.role, "admin");
    assert.equal(row?.disabled_at, null);
    assert.equal((await page("/admin/users", admin)).statusCode, 200, "still signed in");
  });

  it("refuse to delete the only owner of a vault (409), delete anyone else", async () => {
    await createTestUser(t, { username: "vault_owner" });
    const owner = await signIn(t, "vault_owner");
    const vault = await t.app.inject({
      method: "POST",
      url: "/api/v1/vaults",
      headers: asSession(owner),
      payload: { slug: "owned-vault" },
    });
    assert.equal(vault.statusCode, 201, vault.body);
    const refused = await post("/admin/users/vault_owner/delete", admin, {});
    assert.equal(refused.statusCode, 409);
    assert.match(refused.body, /only owner of 1 vault/);
    assert.ok(await user("vault_owner"), "not deleted");

    await createTestUser(t, { username: "delete_me" });
    const deleted = await post("/admin/users/delete_me/delete", admin, {});
    assert.equal(deleted.statusCode, 303);
    assert.equal(await user("delete_me"), null);
    const flash = deleted.cookies.find((c) => c.name === "strongroom_flash");
    assert.ok(flash);
  });

  it("end one user's sessions, flash the count, and report unknown users", async () => {
    const target = await createTestUser(t, { username: "end_target" });
    const first = await signIn(t, "end_target");
    const second = await signIn(t, "end_target");
    const ended = await post("/admin/users/end_target/sessions-end", admin, {
      back: "/admin/users?query=end_",
    });
    assert.equal(ended.statusCode, 303, ended.body);
    assert.equal(ended.headers.location, "/admin/users?query=end_");
    assert.match(await flashShown(ended, admin), /Ended 2 sessions of end_target\./);
    for (const session of [first, second])
      assert.equal((await page("/", session)).statusCode, 303, "their session ended");
    const left = await t.database.db
      .selectFrom("sessions")
      .select("id")
      .where("user_id", "=", target.id)
      .execute();
    assert.deepEqual(left, []);
    assert.equal((await page("/admin/users", admin)).statusCode, 200, "the admin stays in");
    assert.equal((await page("/", member)).statusCode, 200, "others stay signed in");
    const [event] = await t.database.db
      .selectFrom("audit_events")
      .select(["target", "details"])
      .where("action", "=", "user.sessions-end")
      .execute();
    assert.deepEqual(event, { target: "end_target", details: '{"endedSessions":2}' });

    const unknown = await post("/admin/users/nobody_here/sessions-end", admin, {});
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.body, /There is no such user\./);
    assertNoInlineCode(unknown.body);
  });

  it("return to the list the admin came from, and only to it", async () => {
    await createTestUser(t, { username: "back_target" });
    const cases: Array<[string, string]> = [
      ["/admin/users?query=back&role=member", "/admin/users?query=back&role=member"],
      ["//evil.example/admin/users", "/admin/users"],
      ["https://evil.example/admin/users", "/admin/users"],
      ["/\\evil.example", "/admin/users"],
      ["/vaults/x", "/admin/users"],
      ["/admin/usersX", "/admin/users"],
    ];
    for (const [back, expected] of cases) {
      const response = await post("/admin/users/back_target/role", admin, {
        role: "member",
        back,
      });
      assert.equal(response.statusCode, 303);
      assert.equal(response.headers.location, expected, back);
    }
  });
});

describe("admin pages: finding users", () => {
  before(async () => {
    for (const name of ["find_a", "find_b", "find_c"])
      await createTestUser(t, { username: `${name}_user` });
  });

  it("search, filter by role, and page with the signed cursor", async () => {
    const first = await page("/admin/users?query=FIND_&limit=2", admin);
    assert.equal(first.statusCode, 200);
    assert.deepEqual(listedUsers(first.body), ["find_a_user", "find_b_user"]);
    assert.match(first.body, /name="query"[^>]*value="FIND_"|value="FIND_"/);
    const next = linkHref(first.body, "Next page");
    assert.ok(next, "a next-page link");
    assert.match(next, /^\/admin\/users\?query=FIND_&limit=2&cursor=/);
    const second = await page(next, admin);
    assert.equal(second.statusCode, 200);
    assert.deepEqual(listedUsers(second.body), ["find_c_user"]);
    assert.equal(linkHref(second.body, "Next page"), null, "the last page");

    const cursor = new URL(next, "http://x").searchParams.get("cursor") ?? "";
    const carried = await page(
      `/admin/users?query=page_&cursor=${encodeURIComponent(cursor)}`,
      admin,
    );
    assert.equal(carried.statusCode, 400, "a cursor is bound to its search");
    assert.match(carried.body, /no longer matches the search/);
    const forged = await page("/admin/users?cursor=AAAA.BBBB", admin);
    assert.equal(forged.statusCode, 400);

    const auditors = await page("/admin/users?role=auditor&query=page_", admin);
    assert.deepEqual(listedUsers(auditors.body), ["page_auditor"]);
    assert.match(auditors.body, /<option value="auditor" selected>/);
    const empty = await page("/admin/users?query=&role=&disabled=", admin);
    assert.equal(empty.statusCode, 200, "empty filter fields mean no filter");
    assert.ok(listedUsers(empty.body).includes("page_admin"));
    const badRole = await page("/admin/users?role=root", admin);
    assert.equal(badRole.statusCode, 400);
  });

  it("show user data and search text escaped", async () => {
    const row = await createTestUser(t, { username: "xss_user" });
    // Usernames cannot hold markup through any form; write one directly to prove escaping.
    await t.database.db
      .updateTable("users")
      .set({ username: SCRIPT, email: IMG })
      .where("id", "=", row.id)
      .execute();
    const list = await page("/admin/users?query=xss_", admin);
    assert.equal(list.statusCode, 200);
    assert.ok(!list.body.includes(SCRIPT), "no raw script tag");
    assert.ok(!list.body.includes("<img"), "no raw img tag");
    assert.match(list.body, /<td>&lt;script>alert\(1\)&lt;\/script><\/td>/);
    assert.match(list.body, /<td>&quot;>&lt;img src=x onerror=alert\(1\)><\/td>/);
    assert.match(list.body, /action="\/admin\/users\/%3Cscript%3Ealert\(1\)%3C%2Fscript%3E\/role"/);
    assertNoInlineCode(list.body);

    const searched = await page(`/admin/users?query=${encodeURIComponent(IMG)}`, admin);
    assert.ok(!searched.body.includes("<img"));
    assert.match(searched.body, /value="&quot;>&lt;img src=x onerror=alert\(1\)>"/);
    assertNoInlineCode(searched.body);
  });
});

describe("audit page", () => {
  before(async () => {
    await recordAuditEvent(
      t.database.db,
      {
        actorId: null,
        actorName: SCRIPT,
        action: "test.xss",
        target: IMG,
        address: "192.0.2.1",
        outcome: "failure",
        details: { note: SCRIPT, other: IMG },
      },
      t.clock.now(),
    );
  });

  /** The action column of every row. */
  const actions = (html: string): string[] =>
    [
      ...html.matchAll(/<tr><td><time[^>]*>[^<]*<\/time><\/td><td>[^<]*<\/td><td>([^<]*)<\/td>/g),
    ].map((m) => m[1] ?? "");

  it("lists events newest first, escaped, for admins and auditors", async () => {
    for (const session of [admin, auditor]) {
      const response = await page("/audit", session);
      assert.equal(response.statusCode, 200);
      assert.ok(actions(response.body).includes("test.xss"));
      assert.ok(!response.body.includes(SCRIPT), "no raw script tag");
      assert.ok(!response.body.includes("<img"), "no raw img tag");
      assert.match(response.body, /<td>&lt;script>alert\(1\)&lt;\/script><\/td>/);
      assert.match(
        response.body,
        /<td>note: &lt;script>alert\(1\)&lt;\/script>; other: &quot;>&lt;img src=x onerror=alert\(1\)><\/td>/,
      );
      assert.match(response.body, /<label for="field-since">Since \(UTC\)<\/label>/);
      assertNoInlineCode(response.body);
    }
  });

  it("filters by action, actor and time, and says what is wrong with a filter", async () => {
    const creates = await page("/audit?action=user.create", auditor);
    const found = actions(creates.body);
    assert.ok(found.length > 0);
    assert.ok(found.every((a) => a === "user.create"));
    assert.match(creates.body, /name="action"[^>]*value="user.create"|value="user.create"/);

    const byActor = await page("/audit?actor=PAGE_ADMIN&action=", auditor);
    assert.equal(byActor.statusCode, 200);
    const rows = [...byActor.body.matchAll(/<\/time><\/td><td>([^<]*)<\/td>/g)].map((m) => m[1]);
    assert.ok(rows.length > 0);
    assert.ok(rows.every((actor) => actor === "page_admin"));

    const past = await page("/audit?until=2000-01-01T00:00", auditor);
    assert.equal(past.statusCode, 200);
    assert.match(past.body, /No events match\./);
    assert.match(
      past.body,
      /name="until" type="datetime-local" step="1" value="2000-01-01T00:00:00"/,
    );
    const now = t.clock.now().toISOString();
    const recent = await page(
      `/audit?since=${encodeURIComponent(now.slice(0, 10))}T00:00`,
      auditor,
    );
    assert.ok(actions(recent.body).includes("test.xss"), "a datetime-local value is UTC");
    const offset = await page(
      `/audit?since=${encodeURIComponent("2000-01-01T00:00:00+02:00")}`,
      auditor,
    );
    assert.equal(offset.statusCode, 200, "RFC 3339 with an offset works too");

    const bad = await page("/audit?since=yesterday", auditor);
    assert.equal(bad.statusCode, 400);
    assert.match(bad.body, /must be an RFC 3339 time/);
    assert.match(bad.body, /aria-invalid="true"/);
    const reversed = await page("/audit?since=2020-01-02T00:00&until=2020-01-01T00:00", auditor);
    assert.equal(reversed.statusCode, 400);
    assert.match(reversed.body, /must be later than since/);
    const badActor = await page(`/audit?actor=${encodeURIComponent(IMG)}`, auditor);
    assert.equal(badActor.statusCode, 400);
    assert.ok(!badActor.body.includes("<img"));
    assertNoInlineCode(badActor.body);
  });

  it("pages through older events with the next link, keeping the filters", async () => {
    const first = await page("/audit?limit=2", auditor);
    const firstIds = [...first.body.matchAll(/<time datetime="([^"]+)"/g)].length;
    assert.equal(firstIds, 2);
    const next = linkHref(first.body, "Older events");
    assert.ok(next);
    assert.match(next, /^\/audit\?limit=2&cursor=/);
    const second = await page(next, auditor);
    assert.equal(second.statusCode, 200);
    assert.notEqual(
      [...second.body.matchAll(/<tr>.*?<\/tr>/gs)].slice(1).join(""),
      [...first.body.matchAll(/<tr>.*?<\/tr>/gs)].slice(1).join(""),
      "another page",
    );

    const filtered = await page(
      "/audit?action=user.create&limit=1&since=2000-01-01T00:00",
      auditor,
    );
    const filteredNext = linkHref(filtered.body, "Older events");
    assert.ok(filteredNext);
    const params = new URL(filteredNext, "http://x").searchParams;
    assert.equal(params.get("action"), "user.create");
    assert.equal(params.get("since"), "2000-01-01T00:00:00.000Z");
    const older = await page(filteredNext, auditor);
    assert.ok(actions(older.body).every((a) => a === "user.create"));

    const forged = await page("/audit?cursor=not-a-cursor", auditor);
    assert.equal(forged.statusCode, 400);
  });
});

// Last: it signs every other session out, those of this file's admin, auditor and member too
// (they sign in again afterwards, for any test added below).
describe("admin pages: signing everyone else out", () => {
  after(async () => {
    admin = await signIn(t, "page_admin");
    auditor = await signIn(t, "page_auditor");
    member = await signIn(t, "page_member");
  });

  it("is refused to an auditor (403), ending nothing", async () => {
    const before = await sessionIds();
    const refused = await post("/admin/sessions/end-all", auditor, {});
    assert.equal(refused.statusCode, 403);
    assert.deepEqual(await sessionIds(), before);
  });

  it("ends every session but the admin's own, and flashes the count", async () => {
    const elsewhere = await signIn(t, "page_admin");
    const others = (await sessionIds()).length - 1;
    assert.ok(others >= 4, `sessions to end: ${others}`);
    const ended = await post("/admin/sessions/end-all", admin, {});
    assert.equal(ended.statusCode, 303, ended.body);
    assert.equal(ended.headers.location, "/admin/users");
    assert.match(
      await flashShown(ended, admin),
      new RegExp(`Ended ${others} sessions; yours stays signed in\\.`),
    );
    assert.equal((await sessionIds()).length, 1, "only the admin's own session is left");
    for (const session of [elsewhere, auditor, member])
      assert.equal((await page("/", session)).statusCode, 303, "signed out");
    const [event] = await t.database.db
      .selectFrom("audit_events")
      .select(["actor_name", "details"])
      .where("action", "=", "sessions.end-all")
      .execute();
    assert.deepEqual(event, {
      actor_name: "page_admin",
      details: JSON.stringify({ endedSessions: others }),
    });
  });
});

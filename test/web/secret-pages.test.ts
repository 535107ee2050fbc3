/**
 * The secret pages' side of rollback and optimistic locking: every write form carries the
 * version it was loaded with, a write that lost the race shows a conflict (keeping what was
 * typed) instead of overwriting, and each older version has a "Restore this version" action.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { asSession, createTestUser, GOOD_PASSWORD, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

let t: TestApp;
interface Browser {
  cookie: string;
  csrf: string;
}
let alice: Browser;
let bob: Browser;
let vera: Browser;

const FORM = { "content-type": "application/x-www-form-urlencoded", accept: "text/html" };
const encode = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

function csrfFrom(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  assert.ok(match?.[1], "a CSRF field in the form");
  return match[1];
}

async function signInByForm(username: string): Promise<Browser> {
  const response = await t.app.inject({
    method: "POST",
    url: "/login",
    headers: FORM,
    payload: encode({ username, password: GOOD_PASSWORD }),
  });
  assert.equal(response.statusCode, 303, response.body);
  const cookie = response.cookies.find((c) => c.name === "strongroom_session");
  assert.ok(cookie);
  const session = `${cookie.name}=${cookie.value}`;
  const home = await t.app.inject({ url: "/", headers: { cookie: session, accept: "text/html" } });
  return { cookie: session, csrf: csrfFrom(home.body) };
}

function page(who: Browser, url: string): Promise<LightMyRequestResponse> {
  return t.app.inject({ url, headers: { cookie: who.cookie, accept: "text/html" } });
}

function post(
  who: Browser,
  url: string,
  fields: Record<string, string>,
): Promise<LightMyRequestResponse> {
  return t.app.inject({
    method: "POST",
    url,
    headers: { ...FORM, cookie: who.cookie },
    payload: encode({ _csrf: who.csrf, ...fields }),
  });
}

/** The version and value the API sees now. */
async function current(name: string): Promise<{ version: number; value: string }> {
  const owner = await signIn(t, "page_alice");
  const response = await t.app.inject({
    url: `/api/v1/vaults/ui-locks/secrets/${name}`,
    headers: asSession(owner),
  });
  assert.equal(response.statusCode, 200, response.body);
  const body = JSON.parse(response.body);
  return { version: body.version, value: body.value };
}

async function versionRows(name: string): Promise<number> {
  const rows = await t.database.db
    .selectFrom("secret_versions")
    .innerJoin("secrets", "secrets.id", "secret_versions.secret_id")
    .select("secret_versions.version")
    .where("secrets.name", "=", name)
    .execute();
  return rows.length;
}

before(async () => {
  t = await createTestApp();
  for (const username of ["page_alice", "page_bob", "page_vera"])
    await createTestUser(t, { username });
  alice = await signInByForm("page_alice");
  bob = await signInByForm("page_bob");
  vera = await signInByForm("page_vera");
  assert.equal((await post(alice, "/vaults", { slug: "ui-locks" })).statusCode, 303);
  assert.equal(
    (await post(alice, "/vaults/ui-locks/members", { username: "page_bob", role: "editor" }))
      .statusCode,
    303,
  );
  assert.equal(
    (await post(alice, "/vaults/ui-locks/members", { username: "page_vera", role: "viewer" }))
      .statusCode,
    303,
  );
});
after(async () => {
  await t.close();
});

describe("secret pages: optimistic locking", () => {
  it("the edit form carries the version it was loaded with", async () => {
    assert.equal(
      (await post(alice, "/vaults/ui-locks/secrets", { name: "FORM_V", value: "one" })).statusCode,
      303,
    );
    await post(alice, "/vaults/ui-locks/secrets", { name: "FORM_V", value: "two" });
    const html = (await page(bob, "/vaults/ui-locks/secrets/FORM_V")).body;
    assert.match(html, /<input type="hidden" name="ifVersion" value="2"\/?>/);
    // The vault page's "Add a secret" form creates only.
    assert.match(
      (await page(bob, "/vaults/ui-locks")).body,
      /<input type="hidden" name="ifVersion" value="0"\/?>/,
    );
  });

  it("a save that lost the race shows a conflict, keeps what was typed, and overwrites nothing", async () => {
    await post(alice, "/vaults/ui-locks/secrets", { name: "RACE", value: "base" });
    // Both open the page at version 1; Bob saves first.
    assert.equal(
      (
        await post(bob, "/vaults/ui-locks/secrets", {
          name: "RACE",
          value: "bobs-value",
          ifVersion: "1",
        })
      ).statusCode,
      303,
    );
    const stale = await post(alice, "/vaults/ui-locks/secrets", {
      name: "RACE",
      value: "alices-value",
      note: "alices-note",
      ifVersion: "1",
    });
    assert.equal(stale.statusCode, 409);
    assert.match(stale.body, /role="alert"/);
    assert.match(
      stale.body,
      /Not saved: someone saved version 2 after you opened this page at version 1/,
    );
    assert.match(stale.body, /alices-value<\/textarea>/, "what Alice typed is kept");
    assert.match(stale.body, /alices-note<\/textarea>/);
    assert.match(stale.body, /name="ifVersion" value="2"/, "the form now stands on version 2");
    assert.ok(!stale.body.includes("bobs-value"), "Bob's value is not shown unasked");
    assert.deepEqual(await current("RACE"), { version: 2, value: "bobs-value" });
    assert.equal(await versionRows("RACE"), 2);
    // Having seen the conflict, Alice saves again on purpose.
    const again = await post(alice, "/vaults/ui-locks/secrets", {
      name: "RACE",
      value: "alices-value",
      ifVersion: "2",
    });
    assert.equal(again.statusCode, 303);
    assert.deepEqual(await current("RACE"), { version: 3, value: "alices-value" });
  });

  it("adding a secret whose name exists is refused, not turned into a new version", async () => {
    await post(alice, "/vaults/ui-locks/secrets", { name: "TAKEN", value: "original" });
    const response = await post(bob, "/vaults/ui-locks/secrets", {
      name: "TAKEN",
      value: "clobber",
      ifVersion: "0",
    });
    assert.equal(response.statusCode, 409);
    assert.match(response.body, /already exists: open it to save a new version/);
    assert.deepEqual(await current("TAKEN"), { version: 1, value: "original" });
  });

  it("a form without ifVersion still writes unconditionally", async () => {
    await post(alice, "/vaults/ui-locks/secrets", { name: "PLAIN", value: "p1" });
    assert.equal(
      (await post(bob, "/vaults/ui-locks/secrets", { name: "PLAIN", value: "p2" })).statusCode,
      303,
    );
    assert.deepEqual(await current("PLAIN"), { version: 2, value: "p2" });
  });
});

describe("secret pages: restore", () => {
  it("offers restore for each older version to editors, not for the current one, not to viewers", async () => {
    for (const value of ["r1", "r2", "r3"])
      await post(alice, "/vaults/ui-locks/secrets", { name: "OFFERED", value });
    const html = (await page(bob, "/vaults/ui-locks/secrets/OFFERED")).body;
    for (const n of [1, 2])
      assert.ok(
        html.includes(`action="/vaults/ui-locks/secrets/OFFERED/versions/${n}/restore"`),
        `version ${n}`,
      );
    assert.ok(!html.includes("/versions/3/restore"), "not the current version");
    assert.match(html, /Version 3 — .*\(current\)/);
    const viewerHtml = (await page(vera, "/vaults/ui-locks/secrets/OFFERED")).body;
    assert.ok(!viewerHtml.includes("/restore"), "viewers see no restore action");
  });

  it("restores as a new version and says so", async () => {
    await post(alice, "/vaults/ui-locks/secrets", { name: "ROLL", value: "good" });
    await post(alice, "/vaults/ui-locks/secrets", { name: "ROLL", value: "bad" });
    const response = await post(bob, "/vaults/ui-locks/secrets/ROLL/versions/1/restore", {
      ifVersion: "2",
    });
    assert.equal(response.statusCode, 303, response.body);
    assert.equal(response.headers.location, "/vaults/ui-locks/secrets/ROLL");
    assert.deepEqual(await current("ROLL"), { version: 3, value: "good" });
    const flashed = await t.app.inject({
      url: "/vaults/ui-locks/secrets/ROLL",
      headers: {
        accept: "text/html",
        cookie: [bob.cookie, ...response.cookies.map((c) => `${c.name}=${c.value}`)].join("; "),
      },
    });
    assert.match(flashed.body, /Version 1 restored as version 3\./);
  });

  it("a restore from a page that is out of date is refused with a conflict message", async () => {
    await post(alice, "/vaults/ui-locks/secrets", { name: "LATE", value: "l1" });
    await post(alice, "/vaults/ui-locks/secrets", { name: "LATE", value: "l2" });
    // Bob's page shows version 2; Alice saves version 3 meanwhile.
    await post(alice, "/vaults/ui-locks/secrets", { name: "LATE", value: "l3" });
    const response = await post(bob, "/vaults/ui-locks/secrets/LATE/versions/1/restore", {
      ifVersion: "2",
    });
    assert.equal(response.statusCode, 409);
    assert.match(
      response.body,
      /Not restored: someone saved version 3 after you opened this page at version 2/,
    );
    assert.deepEqual(await current("LATE"), { version: 3, value: "l3" });
    assert.equal(await versionRows("LATE"), 3);
  });

  it("refuses a restore without a CSRF token, by a viewer, or of a version that is not there", async () => {
    await post(alice, "/vaults/ui-locks/secrets", { name: "SAFE", value: "s1" });
    await post(alice, "/vaults/ui-locks/secrets", { name: "SAFE", value: "s2" });
    const noToken = await t.app.inject({
      method: "POST",
      url: "/vaults/ui-locks/secrets/SAFE/versions/1/restore",
      headers: { ...FORM, cookie: bob.cookie },
      payload: encode({ ifVersion: "2" }),
    });
    assert.equal(noToken.statusCode, 403);
    assert.equal(
      (await post(vera, "/vaults/ui-locks/secrets/SAFE/versions/1/restore", { ifVersion: "2" }))
        .statusCode,
      403,
    );
    for (const n of ["9", "0", "x"])
      assert.equal(
        (await post(bob, `/vaults/ui-locks/secrets/SAFE/versions/${n}/restore`, { ifVersion: "2" }))
          .statusCode,
        404,
        n,
      );
    assert.deepEqual(await current("SAFE"), { version: 2, value: "s2" });
  });
});

describe("secret pages: expiring secrets", () => {
  const MINUTE = 60_000;
  /** A `datetime-local` value (UTC) `ms` from the app's now. */
  const localFromNow = (ms: number): string =>
    new Date(t.clock.now().getTime() + ms).toISOString().slice(0, 16);

  it("takes an expiry (UTC) when adding a secret and shows it in the list", async () => {
    const at = localFromNow(3 * 86_400_000);
    const response = await post(alice, "/vaults/ui-locks/secrets", {
      name: "DATED",
      value: "dated",
      expiresAt: at,
      ifVersion: "0",
    });
    assert.equal(response.statusCode, 303, response.body);
    const stored = await t.database.db
      .selectFrom("secrets")
      .select("expires_at")
      .where("name", "=", "DATED")
      .executeTakeFirst();
    assert.equal(stored?.expires_at, `${at}:00.000Z`);
    const list = (await page(vera, "/vaults/ui-locks")).body;
    assert.match(list, /<th scope="col">Expires<\/th>/);
    assert.ok(list.includes(`${at.replace("T", " ")} UTC`));
  });

  it("refuses an expiry in the past on the form, keeping what was typed", async () => {
    const response = await post(alice, "/vaults/ui-locks/secrets", {
      name: "PAST_DATED",
      value: "typed-value",
      expiresAt: localFromNow(-60 * MINUTE),
      ifVersion: "0",
    });
    assert.equal(response.statusCode, 400);
    assert.match(response.body, /Expiry must be in the future\./);
    assert.match(response.body, /value="PAST_DATED"/);
    assert.equal(
      await t.database.db
        .selectFrom("secrets")
        .select("id")
        .where("name", "=", "PAST_DATED")
        .executeTakeFirst(),
      undefined,
    );
  });

  it("marks an expired secret, offers no reveal, and the reveal form answers 410", async () => {
    await post(alice, "/vaults/ui-locks/secrets", {
      name: "LAPSED",
      value: "lapsed-value",
      expiresAt: localFromNow(2 * MINUTE),
    });
    t.clock.advance(2 * MINUTE + 1_000);
    const list = (await page(vera, "/vaults/ui-locks")).body;
    assert.match(list, /class="expired">expired <time/);
    const viewerPage = (await page(vera, "/vaults/ui-locks/secrets/LAPSED")).body;
    assert.match(
      viewerPage,
      /its value can no longer be revealed\. A vault owner can extend or delete it\./,
    );
    assert.ok(!viewerPage.includes("/reveal"), "no Reveal button");
    const revealed = await post(vera, "/vaults/ui-locks/secrets/LAPSED/reveal", {});
    assert.equal(revealed.statusCode, 410);
    assert.ok(!revealed.body.includes("lapsed-value"));
    const ownerPage = (await page(alice, "/vaults/ui-locks/secrets/LAPSED")).body;
    assert.match(ownerPage, /Extend the expiry below, or delete it\./);
    assert.ok(ownerPage.includes('action="/vaults/ui-locks/secrets/LAPSED/expiry"'));
    assert.ok(
      !(await page(bob, "/vaults/ui-locks/secrets/LAPSED")).body.includes("/expiry"),
      "editors get no expiry form",
    );
  });

  it("filters the list to what expires within N days, expired included", async () => {
    await post(alice, "/vaults/ui-locks/secrets", {
      name: "NEXT_YEAR",
      value: "later",
      expiresAt: localFromNow(365 * 86_400_000),
    });
    const names = (html: string): string[] =>
      [...html.matchAll(/<a href="\/vaults\/ui-locks\/secrets\/([A-Za-z_.-]+)">/g)].map(
        (m) => m[1] as string,
      );
    const soon = names((await page(vera, "/vaults/ui-locks?expiring=7")).body);
    assert.ok(soon.includes("DATED") && soon.includes("LAPSED"), soon.join());
    assert.ok(!soon.includes("NEXT_YEAR") && !soon.includes("RACE"), soon.join());
    assert.match(
      (await page(vera, "/vaults/ui-locks?expiring=7")).body,
      /name="expiring"[^>]*value="7"/,
    );
    const all = names((await page(vera, "/vaults/ui-locks?expiring=x")).body);
    assert.ok(all.includes("NEXT_YEAR") && all.includes("RACE"), "a bad filter is no filter");
  });

  it("a new value for an expired secret needs a new expiry", async () => {
    await post(alice, "/vaults/ui-locks/secrets", {
      name: "ROTATE_UI",
      value: "old",
      expiresAt: localFromNow(MINUTE),
    });
    t.clock.advance(MINUTE + 1_000);
    const refused = await post(bob, "/vaults/ui-locks/secrets", {
      name: "ROTATE_UI",
      value: "new-value-typed",
      ifVersion: "1",
    });
    assert.equal(refused.statusCode, 409);
    assert.match(refused.body, /expired at .*new expiresAt/);
    assert.match(refused.body, /new-value-typed<\/textarea>/);
    const ok = await post(bob, "/vaults/ui-locks/secrets", {
      name: "ROTATE_UI",
      value: "new-value",
      ifVersion: "1",
      expiresAt: localFromNow(86_400_000),
    });
    assert.equal(ok.statusCode, 303, ok.body);
  });

  it("owners extend or remove the expiry; editors cannot; a past time is refused", async () => {
    await post(alice, "/vaults/ui-locks/secrets", {
      name: "EXTEND_UI",
      value: "keep-me",
      expiresAt: localFromNow(MINUTE),
    });
    t.clock.advance(MINUTE + 1_000);
    assert.equal(
      (
        await post(bob, "/vaults/ui-locks/secrets/EXTEND_UI/expiry", {
          newExpiry: localFromNow(86_400_000),
        })
      ).statusCode,
      403,
    );
    const past = await post(alice, "/vaults/ui-locks/secrets/EXTEND_UI/expiry", {
      newExpiry: localFromNow(-MINUTE),
    });
    assert.equal(past.statusCode, 400);
    assert.match(past.body, /The new expiry must be in the future\./);
    const empty = await post(alice, "/vaults/ui-locks/secrets/EXTEND_UI/expiry", { newExpiry: "" });
    assert.equal(empty.statusCode, 400);
    const later = localFromNow(86_400_000);
    const extended = await post(alice, "/vaults/ui-locks/secrets/EXTEND_UI/expiry", {
      newExpiry: later,
    });
    assert.equal(extended.statusCode, 303, extended.body);
    assert.deepEqual(await current("EXTEND_UI"), { version: 1, value: "keep-me" });
    const never = await post(alice, "/vaults/ui-locks/secrets/EXTEND_UI/expiry", { never: "1" });
    assert.equal(never.statusCode, 303);
    const row = await t.database.db
      .selectFrom("secrets")
      .select("expires_at")
      .where("name", "=", "EXTEND_UI")
      .executeTakeFirst();
    assert.equal(row?.expires_at, null);
  });
  it("the expiry forms carry the version shown: a value saved since is not extended blindly", async () => {
    await post(alice, "/vaults/ui-locks/secrets", {
      name: "EXPIRY_RACE",
      value: "seen",
      expiresAt: localFromNow(MINUTE),
    });
    const page = await t.app.inject({
      url: "/vaults/ui-locks/secrets/EXPIRY_RACE",
      headers: { accept: "text/html", cookie: alice.cookie },
    });
    const forms = page.body.split("<form").filter((f) => f.includes('/EXPIRY_RACE/expiry"'));
    assert.equal(forms.length, 2, "set and remove");
    for (const f of forms) assert.match(f, /name="ifVersion" value="1"/);
    // Someone saves a new value after the page was opened.
    await post(alice, "/vaults/ui-locks/secrets", {
      name: "EXPIRY_RACE",
      value: "unseen",
      expiresAt: localFromNow(2 * MINUTE),
      ifVersion: "1",
    });
    const before = await t.database.db
      .selectFrom("secrets")
      .select(["expires_at", "current_version"])
      .where("name", "=", "EXPIRY_RACE")
      .executeTakeFirst();
    const attempts: Array<Record<string, string>> = [
      { newExpiry: localFromNow(86_400_000), ifVersion: "1" },
      { never: "1", ifVersion: "1" },
    ];
    for (const fields of attempts) {
      const stale = await post(alice, "/vaults/ui-locks/secrets/EXPIRY_RACE/expiry", fields);
      assert.equal(stale.statusCode, 409, stale.body);
      assert.match(stale.body, /Expiry not changed: someone saved version 2/);
    }
    const after = await t.database.db
      .selectFrom("secrets")
      .select(["expires_at", "current_version"])
      .where("name", "=", "EXPIRY_RACE")
      .executeTakeFirst();
    assert.deepEqual(after, before, "nothing changed");
    const fresh = await post(alice, "/vaults/ui-locks/secrets/EXPIRY_RACE/expiry", {
      newExpiry: localFromNow(86_400_000),
      ifVersion: "2",
    });
    assert.equal(fresh.statusCode, 303, fresh.body);
  });
});

describe("secret pages: typed secrets", () => {
  it("adds a card from the form; the page names the type, and a reveal masks the number until opened", async () => {
    const response = await post(alice, "/vaults/ui-locks/secrets", {
      name: "UI_CARD",
      type: "card",
      card_holder: "Ada Lovelace",
      card_number: "4242 4242 4242 4242",
      card_expMonth: "12",
      card_expYear: "2099",
      card_cvc: "321",
      ifVersion: "0",
    });
    assert.equal(response.statusCode, 303, response.body);
    const before = (await page(vera, "/vaults/ui-locks/secrets/UI_CARD")).body;
    assert.match(before, /Payment card, version 1/);
    assert.ok(!before.includes("4242"), "nothing of the number before a reveal");
    const revealed = await post(vera, "/vaults/ui-locks/secrets/UI_CARD/reveal", {});
    assert.equal(revealed.statusCode, 200, revealed.body);
    assert.match(
      revealed.body,
      /<summary>•••• 4242 <span class="muted">\(show\)<\/span><\/summary>/,
    );
    assert.match(revealed.body, /<details><summary>••• /, "the CVC is masked too");
    assert.match(revealed.body, /id="secret-number">4242424242424242<\/pre>/);
    assert.match(revealed.body, /id="secret-expiry">12\/2099<\/pre>/);
  });

  it("refuses a card number that fails the Luhn check, naming the field and not echoing it", async () => {
    const response = await post(alice, "/vaults/ui-locks/secrets", {
      name: "UI_BAD_CARD",
      type: "card",
      card_holder: "Ada Lovelace",
      card_number: "4242 4242 4242 4241",
      card_expMonth: "12",
      card_expYear: "2099",
      ifVersion: "0",
    });
    assert.equal(response.statusCode, 400);
    assert.match(response.body, /is not a valid card number \(Luhn check\)/);
    assert.match(response.body, /value="Ada Lovelace"/);
    assert.ok(!response.body.includes("4241"), "the number is not echoed");
    assert.equal(await versionRows("UI_BAD_CARD"), 0);
  });

  it("stores a credential from the form and shows the password masked after a reveal", async () => {
    const response = await post(alice, "/vaults/ui-locks/secrets", {
      name: "UI_LOGIN",
      type: "credential",
      cred_username: "deploy",
      cred_password: "pa55-word-ui",
      cred_url: "https://db.example.com",
    });
    assert.equal(response.statusCode, 303, response.body);
    const revealed = (await post(bob, "/vaults/ui-locks/secrets/UI_LOGIN/reveal", {})).body;
    assert.match(revealed, /id="secret-username">deploy<\/pre>/);
    assert.match(
      revealed,
      /<summary>•••••••• <span class="muted">\(show\)<\/span><\/summary><pre class="secret-value" id="secret-password">pa55-word-ui<\/pre>/,
    );
    // The new-version form keeps the type selected.
    assert.match(revealed, /<option value="credential" selected[^>]*>Credential \(current\)/);
  });
});

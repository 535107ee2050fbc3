// The data classification (docs/security/data-classification.md) held against the real schema
// and the real app: every column of the migrated database is classified, and nothing else is;
// and after a run through the app with known plaintexts (values, notes, passwords, session and
// API tokens, reset and sign-up links, a TOTP secret, recovery codes, a share link's key), no
// row of any table — nor, on SQLite, the database files — holds one of them in a readable form.
// Runs on the test engine (TEST_ENGINE=postgres for PostgreSQL).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { LightMyRequestResponse } from "fastify";
import { sql } from "kysely";
import { generateTotpCode } from "../src/accounts/totp.js";
import { encryptShare } from "../src/shares/share-crypto.js";
import type { SignedIn } from "./helpers/accounts.js";
import { asSession, createTestUser, sessionCookieFrom, signIn } from "./helpers/accounts.js";
import type { TestApp } from "./helpers/app.js";
import { createTestApp } from "./helpers/app.js";
import { testEngine } from "./helpers/databases.js";
import { SoftAuthenticator } from "./helpers/webauthn.js";

const ROOT = new URL("..", import.meta.url).pathname;
const DOC = "docs/security/data-classification.md";
const INVENTORY_HEADING = "## Column inventory";
const LEVELS = ["secret", "credential", "confidential", "public"] as const;
type Level = (typeof LEVELS)[number];

/**
 * Secret or credential columns the document admits are stored in the clear. Pinned here so
 * that classifying a new credential column as "clear" takes a deliberate change to this test
 * too, not just a line in the document.
 */
const KNOWN_CLEAR: string[] = [];

const PUBLIC_URL = "https://vault.example.test";
const RP_ID = "vault.example.test";

interface Classified {
  level: Level;
  storedAs: string;
}

/** The inventory table of the document: `table.column` → level and storage. */
function readInventory(): Map<string, Classified> {
  const text = readFileSync(join(ROOT, DOC), "utf8");
  const start = text.indexOf(`\n${INVENTORY_HEADING}\n`);
  assert.notEqual(start, -1, `${DOC} has no "${INVENTORY_HEADING}" section`);
  const rows = text
    .slice(start + INVENTORY_HEADING.length + 2)
    .split("\n")
    .filter((line) => line.startsWith("|"));
  const inventory = new Map<string, Classified>();
  for (const row of rows.slice(2)) {
    const [table = "", column = "", level = "", storedAs = ""] = row
      .split("|")
      .slice(1, -1)
      .map((cell) => cell.trim().replaceAll("`", ""));
    const name = `${table}.${column}`;
    assert.ok(!inventory.has(name), `${name} is classified twice`);
    assert.ok(LEVELS.includes(level as Level), `${name}: "${level}" is not a level`);
    assert.ok(storedAs.length > 0, `${name}: says nothing about how it is stored`);
    inventory.set(name, { level: level as Level, storedAs });
  }
  return inventory;
}

/** Something that must never be readable in the database, and the forms it is looked for in. */
interface Marker {
  label: string;
  level: "secret" | "credential";
  forms: Buffer[];
}

const markers: Marker[] = [];

/** Registers `text` (as UTF-8 and as hex of that), plus any extra byte forms. */
function mark(label: string, level: Marker["level"], text: string, ...extra: Buffer[]): string {
  assert.ok(text.length >= 16, `${label} is too short to look for`);
  const utf8 = Buffer.from(text, "utf8");
  markers.push({ label, level, forms: [utf8, Buffer.from(utf8.toString("hex")), ...extra] });
  return text;
}

/** A random token: looked for as text and as the bytes it encodes. */
function markToken(label: string, token: string): string {
  return mark(label, "credential", token, Buffer.from(token, "base64url"));
}

const unique = (label: string): string => `PLAINTEXT-${label}-${randomBytes(8).toString("hex")}`;

let t: TestApp;
/** What the flow produced that the assertions below check it against. */
const seen: { revealed?: string; shareId?: string; tables?: Map<string, Set<string>> } = {};

function api(
  who: SignedIn | string | null,
  method: "GET" | "POST" | "PUT" | "DELETE",
  url: string,
  payload?: unknown,
): Promise<LightMyRequestResponse> {
  const headers =
    who === null
      ? {}
      : typeof who === "string"
        ? { authorization: `Bearer ${who}` }
        : asSession(who);
  return t.app.inject({
    method,
    url: `/api/v1${url}`,
    headers: { ...headers, origin: PUBLIC_URL },
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
  });
}

async function expectStatus(
  response: Promise<LightMyRequestResponse>,
  status: number,
): Promise<LightMyRequestResponse> {
  const answer = await response;
  assert.equal(answer.statusCode, status, answer.body);
  return answer;
}

/** A signed-in session, with its cookie token and CSRF token marked. */
async function session(username: string, password: string, totp?: string): Promise<SignedIn> {
  const signed = await signIn(t, username, password, totp);
  markToken(`session token of ${username}`, signed.cookie.split("=")[1] ?? "");
  mark(`CSRF token of ${username}`, "credential", signed.csrfToken);
  return signed;
}

/**
 * The token of the first mail to `to` sent after the first `sentBefore` mails (the link's
 * `token=…`, in a fragment or a query). Mail goes out after the answer, so this waits a little.
 */
async function tokenMailedTo(to: string, sentBefore: number): Promise<string> {
  const find = () => t.mail.slice(sentBefore).find((m) => m.to === to);
  for (let i = 0; i < 50 && find() === undefined; i++)
    await new Promise((resolve) => setImmediate(resolve));
  const mail = find();
  const token = /token=([A-Za-z0-9_-]+)/.exec(mail?.text ?? "")?.[1];
  assert.ok(token, `no link mailed to ${to}`);
  return token;
}

/** Drives the app through every flow that stores something sensitive. */
async function populate(): Promise<void> {
  // An administrator (as `strongroom users create` makes one) creates a member over the API.
  const adminPassword = mark("admin password", "credential", unique("admin-password"));
  await createTestUser(t, { username: "dc_admin", role: "admin", password: adminPassword });
  const admin = await session("dc_admin", adminPassword);
  const memberPassword = mark("member password", "credential", unique("member-password"));
  await expectStatus(
    api(admin, "POST", "/admin/users", {
      username: "dc_member",
      email: "dc.member@example.test",
      password: memberPassword,
    }),
    201,
  );

  // Self-service sign-up: one followed, one left pending.
  const signupPassword = mark("sign-up password", "credential", unique("signup-password"));
  let sent = t.mail.length;
  await expectStatus(
    api(null, "POST", "/auth/register", {
      username: "dc_signup",
      email: "dc.signup@example.test",
      password: signupPassword,
    }),
    201,
  );
  const signupToken = markToken(
    "sign-up link",
    await tokenMailedTo("dc.signup@example.test", sent),
  );
  await expectStatus(api(null, "POST", "/auth/register/confirm", { token: signupToken }), 201);
  const pendingPassword = mark("pending sign-up password", "credential", unique("pending-pw"));
  sent = t.mail.length;
  await expectStatus(
    api(null, "POST", "/auth/register", {
      username: "dc_pending",
      email: "dc.pending@example.test",
      password: pendingPassword,
    }),
    201,
  );
  markToken("pending sign-up link", await tokenMailedTo("dc.pending@example.test", sent));

  // A forgotten password, reset with the mailed link.
  await session("dc_signup", signupPassword);
  sent = t.mail.length;
  await expectStatus(
    api(null, "POST", "/auth/password-reset", { email: "dc.signup@example.test" }),
    202,
  );
  const resetToken = markToken("reset link", await tokenMailedTo("dc.signup@example.test", sent));
  const resetPassword = mark("password set by reset", "credential", unique("reset-password"));
  await expectStatus(
    api(null, "POST", "/auth/password-reset/confirm", {
      token: resetToken,
      password: resetPassword,
    }),
    204,
  );
  await session("dc_signup", resetPassword);

  // The member changes their password, enrols TOTP, proves a recovery code, adds a passkey.
  let member = await session("dc_member", memberPassword);
  const newPassword = mark("changed password", "credential", unique("changed-password"));
  const changed = await expectStatus(
    api(member, "POST", "/me/password", { currentPassword: memberPassword, newPassword }),
    204,
  );
  markToken("rotated session token", (sessionCookieFrom(changed) ?? "=").split("=")[1] ?? "");
  member = await session("dc_member", newPassword);
  const started = await expectStatus(api(member, "POST", "/me/mfa/totp"), 200);
  const totpSecret = mark("TOTP secret", "credential", JSON.parse(started.body).secret);
  const confirmed = await expectStatus(
    api(member, "POST", "/me/mfa/totp/confirm", {
      code: generateTotpCode(totpSecret, t.clock.now().getTime()),
    }),
    200,
  );
  const { recoveryCodes, csrfToken } = JSON.parse(confirmed.body) as {
    recoveryCodes: string[];
    csrfToken: string;
  };
  assert.equal(recoveryCodes.length, 10);
  for (const code of recoveryCodes) {
    mark("recovery code", "credential", code);
    mark("recovery code, as typed without dashes", "credential", code.replaceAll("-", ""));
  }
  member = { cookie: sessionCookieFrom(confirmed) ?? "", csrfToken, userId: member.userId };
  markToken("session token after enrolment", member.cookie.split("=")[1] ?? "");
  await expectStatus(api(member, "POST", "/auth/reauth", { totp: recoveryCodes[0] }), 200);
  const authenticator = new SoftAuthenticator(RP_ID, PUBLIC_URL);
  const options = JSON.parse(
    (await expectStatus(api(member, "POST", "/me/passkeys/options"), 200)).body,
  );
  await expectStatus(
    api(member, "POST", "/me/passkeys", {
      challengeId: options.challengeId,
      name: "dc laptop",
      response: authenticator.register(options.options),
    }),
    201,
  );
  // A sign-in with a passkey begun and not finished leaves its challenge behind.
  await expectStatus(api(null, "POST", "/auth/passkey/options"), 200);
  t.clock.advance(60_000);
  member = await session(
    "dc_member",
    newPassword,
    generateTotpCode(totpSecret, t.clock.now().getTime()),
  );

  // A vault with a versioned secret and a note, a member, a shredded secret.
  await expectStatus(api(member, "POST", "/vaults", { slug: "dc-vault" }), 201);
  await expectStatus(
    api(member, "PUT", "/vaults/dc-vault/members/dc_signup", { role: "viewer" }),
    201,
  );
  const first = mark("secret value, version 1", "secret", unique("value-1"));
  const note = mark("secret note", "secret", unique("note"));
  const second = mark("secret value, version 2", "secret", unique("value-2"));
  await expectStatus(
    api(member, "PUT", "/vaults/dc-vault/secrets/DC_DB_PASSWORD", { value: first, note }),
    201,
  );
  await expectStatus(
    api(member, "PUT", "/vaults/dc-vault/secrets/DC_DB_PASSWORD", { value: second }),
    200,
  );
  const doomed = mark("shredded secret value", "secret", unique("shredded-value"));
  await expectStatus(
    api(member, "PUT", "/vaults/dc-vault/secrets/DC_DOOMED", { value: doomed }),
    201,
  );
  await expectStatus(api(member, "DELETE", "/vaults/dc-vault/secrets/DC_DOOMED"), 204);

  // An API token, used once to read the value.
  const created = await expectStatus(
    api(member, "POST", "/me/tokens", {
      name: "dc deploy",
      scopes: [{ vault: "dc-vault", permission: "read" }],
      expiresInDays: 30,
    }),
    201,
  );
  const apiToken = markToken("API token", JSON.parse(created.body).token);
  markToken("API token without its prefix", apiToken.slice(3));
  const revealed = await expectStatus(
    api(apiToken, "GET", "/vaults/dc-vault/secrets/DC_DB_PASSWORD"),
    200,
  );
  seen.revealed = JSON.parse(revealed.body).value;

  // A two-view share link encrypted as the browser does it, opened once.
  const share = await encryptShare("DC_DB_PASSWORD", second, null);
  mark("share link key", "secret", share.fragment, Buffer.from(share.fragment, "base64url"));
  const link = await expectStatus(
    api(member, "POST", "/vaults/dc-vault/secrets/DC_DB_PASSWORD/shares", {
      ciphertext: share.ciphertext,
      maxViews: 2,
    }),
    201,
  );
  seen.shareId = markToken("share link id", JSON.parse(link.body).share.id);
  await expectStatus(api(null, "GET", `/shares/${seen.shareId}`), 200);

  // The keys themselves, in the forms they are configured in.
  for (const { id, key } of t.config.masterKeys) {
    const bytes = key.reveal();
    mark(`master key ${id}`, "secret", bytes.toString("base64"), bytes);
  }
  const secretKey = t.config.secretKey.reveal();
  mark(
    "SECRET_KEY",
    "secret",
    secretKey.toString("base64url"),
    secretKey,
    Buffer.from(secretKey.toString("base64")),
  );
}

/** Every cell of every table, as bytes, named `table.column`. */
async function readEveryCell(): Promise<Array<{ name: string; bytes: Buffer }>> {
  const cells: Array<{ name: string; bytes: Buffer }> = [];
  for (const table of (seen.tables ?? new Map()).keys()) {
    // The name comes from the database's own catalogue.
    const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(table)}`.execute(
      t.database.db,
    );
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        if (value === null || value === undefined) continue;
        const bytes = Buffer.isBuffer(value)
          ? value
          : value instanceof Uint8Array
            ? Buffer.from(value)
            : Buffer.from(value instanceof Date ? value.toISOString() : String(value), "utf8");
        cells.push({ name: `${table}.${column}`, bytes });
      }
    }
  }
  return cells;
}

before(async () => {
  t = await createTestApp({ env: { PUBLIC_URL, REGISTRATION: "open" } });
  await populate();
  seen.tables = await t.database.dialect.tableColumns(t.database.db);
});
after(async () => {
  await t?.close();
});

describe("data classification", () => {
  it("classifies every column of the migrated schema, and no column that does not exist", () => {
    const inventory = readInventory();
    const actual = [...(seen.tables ?? new Map<string, Set<string>>())].flatMap(
      ([table, columns]) => [...columns].map((column) => `${table}.${column}`),
    );
    assert.ok(actual.length > 100, "the schema was read");
    const unclassified = actual.filter((name) => !inventory.has(name)).sort();
    const unknown = [...inventory.keys()].filter((name) => !actual.includes(name)).sort();
    assert.deepEqual(unclassified, [], `columns missing from ${DOC}: classify them`);
    assert.deepEqual(unknown, [], `${DOC} classifies columns the schema does not have`);
  });

  it("stores no secret or credential column in the clear", () => {
    const clear = [...readInventory()]
      .filter(([, c]) => c.level !== "confidential" && c.level !== "public")
      .filter(([, c]) => /^clear\b/i.test(c.storedAs))
      .map(([name]) => name)
      .sort();
    assert.deepEqual(clear, KNOWN_CLEAR);
  });

  it("names only test files that exist", () => {
    const text = readFileSync(join(ROOT, DOC), "utf8");
    const named = [...text.matchAll(/`([\w./-]+\.test\.tsx?)`/g)].map((match) => match[1] ?? "");
    assert.ok(named.length > 10, "the requirements name their tests");
    assert.deepEqual(
      named.filter((path) => !existsSync(join(ROOT, path))),
      [],
    );
  });

  it("the flow really stored and served what it was given", async () => {
    assert.equal(
      seen.revealed,
      markers.find((m) => m.label === "secret value, version 2")?.forms[0]?.toString(),
    );
    const counts: Record<string, number> = {};
    for (const table of (seen.tables ?? new Map()).keys()) {
      const { rows } = await sql<{
        n: number | string;
      }>`select count(*) as n from ${sql.table(table)}`.execute(t.database.db);
      counts[table] = Number(rows[0]?.n);
    }
    // Every table holds at least one row, so the scans below look at every column's data.
    assert.deepEqual(
      Object.entries(counts).filter(([, n]) => n === 0),
      [],
    );
  });

  it("keeps every secret and credential out of every row", async () => {
    const inventory = readInventory();
    const found = new Set<string>();
    for (const cell of await readEveryCell()) {
      for (const marker of markers) {
        if (marker.forms.some((form) => cell.bytes.includes(form))) {
          found.add(
            `${cell.name} (${inventory.get(cell.name)?.level ?? "unclassified"}) holds the ${marker.level} "${marker.label}"`,
          );
        }
      }
    }
    // A share link's id included: shares.id keeps only its SHA-256 (0003_share_handles).
    assert.deepEqual([...found].sort(), []);
  });

  it("leaves none of them in the SQLite files either", { skip: testEngine() !== "sqlite" }, () => {
    assert.ok(t.config.database.kind === "sqlite");
    const dir = dirname(t.config.database.path);
    const base = basename(t.config.database.path);
    const files = readdirSync(dir).filter((file) => file.startsWith(base));
    assert.ok(files.includes(base) && files.includes(`${base}-wal`), files.join(", "));
    const leaks: string[] = [];
    for (const file of files) {
      const bytes = readFileSync(join(dir, file));
      for (const marker of markers) {
        if (marker.forms.some((form) => bytes.includes(form)))
          leaks.push(`${file}: the ${marker.level} "${marker.label}"`);
      }
    }
    assert.deepEqual(leaks, []);
  });
});

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { FastifyInstance } from "fastify";
import { auditRoutes } from "../../src/audit/audit.routes.js";
import { encodeAuditCursor } from "../../src/audit/audit.schema.js";
import { recordAuditEvent } from "../../src/audit/audit.service.js";
import { generateToken, hashToken } from "../../src/crypto/tokens.js";
import type { Principal } from "../../src/http/authentication.js";
import { rotateKeys } from "../../src/keys/rotation.service.js";
import type { SignedIn } from "../helpers/accounts.js";
import { createTestUser, GOOD_PASSWORD, signIn } from "../helpers/accounts.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";
import type { TestDatabase } from "../helpers/databases.js";
import { testDatabaseTargets } from "../helpers/databases.js";
import { newMasterKey, seedSecretVersions } from "../keys/fixtures.js";
import { seedAuditEvents } from "./fixtures.js";

/** Requests carrying this header act as the named admin's API token (see `routes` below). */
const AS_TOKEN = "x-test-as-token-of";

interface AuditEventBody {
  id: string;
  at: string;
  actor: string | null;
  action: string;
  target: string | null;
  address: string | null;
  outcome: string;
  details: Record<string, unknown> | null;
}
interface AuditPageBody {
  events: AuditEventBody[];
  nextCursor: string | null;
}

const EPOCH = new Date("2020-01-01T00:00:00.000Z");

for (const kind of testDatabaseTargets()) {
  describe(`GET /api/v1/audit (${kind.name})`, () => {
    let testDb: TestDatabase;
    let t: TestApp;
    let admin: SignedIn;
    let auditor: SignedIn;
    let member: SignedIn;
    let wiredByApp = false;

    before(async () => {
      testDb = await kind.create();
      const routes = async (root: FastifyInstance): Promise<void> => {
        // Once app.ts registers the audit routes itself, test those; until then, register
        // them here as app.ts will. The database is read per request, after `t` exists.
        wiredByApp = root.hasRoute({ method: "GET", url: "/api/v1/audit" });
        if (wiredByApp) return;
        await root.register(
          async (scope) => {
            // Stand-in for a bearer token (the tokens capability is tested on its own): the
            // policy must refuse the audit log to tokens even of an admin.
            scope.addHook("onRequest", async (request) => {
              const userId = request.headers[AS_TOKEN];
              if (typeof userId !== "string") return;
              const principal: Principal = {
                kind: "token",
                userId,
                username: "admin1",
                role: "admin",
                sessionId: null,
                tokenId: "test-token",
                scopes: [],
              };
              request.principal = principal;
            });
            await scope.register(auditRoutes, {
              get db() {
                return t.database.db;
              },
            });
          },
          { prefix: "/api/v1" },
        );
      };
      t = await createTestApp({ target: testDb.target, routes });
      await createTestUser(t, { username: "admin1", role: "admin" });
      await createTestUser(t, { username: "auditor1", role: "auditor" });
      await createTestUser(t, { username: "member1", role: "member" });
      admin = await signIn(t, "admin1");
      auditor = await signIn(t, "auditor1");
      member = await signIn(t, "member1");
      await seedAuditEvents(t.database.db, 6, EPOCH);
    });
    after(async () => {
      await t.close();
      await testDb.cleanup();
    });

    const get = (url: string, session?: SignedIn, headers: Record<string, string> = {}) =>
      t.app.inject({
        method: "GET",
        url,
        headers: { ...(session ? { cookie: session.cookie } : {}), ...headers },
      });
    const page = async (url: string, session: SignedIn = auditor): Promise<AuditPageBody> => {
      const response = await get(url, session);
      assert.equal(response.statusCode, 200, response.body);
      return JSON.parse(response.body) as AuditPageBody;
    };

    it("admins and auditors with a session may read; others may not", async () => {
      assert.equal((await get("/api/v1/audit", admin)).statusCode, 200);
      assert.equal((await get("/api/v1/audit", auditor)).statusCode, 200);
      const denied = await get("/api/v1/audit", member);
      assert.equal(denied.statusCode, 403);
      assert.match(String(denied.headers["content-type"]), /application\/problem\+json/);
      const anonymous = await get("/api/v1/audit");
      assert.equal(anonymous.statusCode, 401);
      // Refused before the query is looked at: no 400 telling strangers what is valid.
      assert.equal((await get("/api/v1/audit?limit=0")).statusCode, 401);
      assert.equal((await get("/api/v1/audit?limit=0", member)).statusCode, 403);
    });

    it("refuses API tokens, even an admin's", async () => {
      // A real token of the administrator, scoped to a vault of theirs.
      const now = new Date().toISOString();
      await t.database.db
        .insertInto("vaults")
        .values({
          id: "audit-admin-vault",
          slug: "audit-admin",
          description: "",
          created_at: now,
          updated_at: now,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
      await t.database.db
        .insertInto("vault_members")
        .values({
          vault_id: "audit-admin-vault",
          user_id: admin.userId,
          role: "owner",
          created_at: now,
        })
        .onConflict((oc) => oc.doNothing())
        .execute();
      // Stored directly (not through the service) so that no audit event is added here.
      const token = `sr_${generateToken()}`;
      await t.database.db
        .insertInto("api_tokens")
        .values({
          id: "audit-admin-token",
          user_id: admin.userId,
          name: "ops",
          token_hash: hashToken(token),
          scopes: JSON.stringify([{ vault: "audit-admin-vault", permission: "read" }]),
          expires_at: new Date(Date.now() + 86_400_000).toISOString(),
          created_at: now,
          last_used_at: null,
          revoked_at: null,
        })
        .execute();
      const response = await get("/api/v1/audit", undefined, { authorization: `Bearer ${token}` });
      assert.equal(response.statusCode, 403);
    });

    it("answers newest first with exactly the documented fields, never cached", async () => {
      const response = await get("/api/v1/audit?limit=200", auditor);
      assert.equal(response.headers["cache-control"], "no-store");
      const body = JSON.parse(response.body) as AuditPageBody;
      assert.equal(body.nextCursor, null);
      assert.ok(body.events.length >= 12, "seeded events, user creations and sign-ins");
      for (const event of body.events) {
        assert.deepEqual(Object.keys(event).sort(), [
          "action",
          "actor",
          "address",
          "at",
          "details",
          "id",
          "outcome",
          "target",
        ]);
      }
      // Newest first means in reverse order of recording (the chain order): the events seeded
      // last (dated 2020) come first, then the sign-ins and user creations, newest first.
      assert.deepEqual(
        body.events.slice(0, 6).map((event) => event.target),
        ["target-5", "target-4", "target-3", "target-2", "target-1", "target-0"],
      );
      const times = body.events.slice(6).map((event) => event.at);
      assert.deepEqual(times, [...times].sort().reverse());
      const seeded = body.events.filter((event) => event.target === "target-5")[0];
      assert.deepEqual(seeded, {
        id: seeded?.id,
        at: "2020-01-01T00:00:05.000Z",
        actor: "bob",
        action: "secret.reveal",
        target: "target-5",
        address: "192.0.2.1",
        outcome: "success",
        details: { index: 5 },
      });
    });

    it("filters by actor (any case), action and time window", async () => {
      const byActor = await page("/api/v1/audit?actor=ALICE&limit=200");
      assert.deepEqual(
        byActor.events.map((event) => event.target),
        ["target-4", "target-2", "target-0"],
      );
      const byAction = await page("/api/v1/audit?action=login.success&limit=200");
      assert.ok(byAction.events.length >= 5);
      assert.ok(byAction.events.every((event) => event.action === "login.success"));
      const signIns = byAction.events.filter((event) => event.actor === "admin1");
      assert.equal(signIns.length, 1);

      const window = await page(
        "/api/v1/audit?since=2020-01-01T00:00:02Z&until=2020-01-01T00:00:04.000Z",
      );
      assert.deepEqual(
        window.events.map((event) => event.target),
        ["target-3", "target-2"],
        "since inclusive, until exclusive",
      );
      const offset = await page(
        `/api/v1/audit?since=${encodeURIComponent("2020-01-01T01:00:02+01:00")}&until=${encodeURIComponent("2020-01-01T01:00:04+01:00")}`,
      );
      assert.deepEqual(offset.events, window.events, "offsets are normalised to UTC");
      const combined = await page(
        "/api/v1/audit?actor=bob&action=secret.reveal&since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z",
      );
      assert.deepEqual(
        combined.events.map((event) => event.target),
        ["target-5", "target-1"],
      );
      const none = await page("/api/v1/audit?actor=nobody");
      assert.deepEqual(none, { events: [], nextCursor: null });
    });

    it("pages with an opaque cursor, stable while events are appended", async () => {
      const all = (await page("/api/v1/audit?limit=200")).events.map((event) => event.id);
      const first = await page("/api/v1/audit?limit=5");
      assert.equal(first.events.length, 5);
      assert.ok(first.nextCursor);
      assert.match(first.nextCursor, /^[A-Za-z0-9_-]+$/);
      // A new event arrives between pages: it belongs before page one, not into page two.
      await recordAuditEvent(
        t.database.db,
        {
          actorId: null,
          actorName: "late",
          action: "test.late",
          target: null,
          address: null,
          outcome: "success",
        },
        t.clock.now(),
      );
      const seen = first.events.map((event) => event.id);
      let cursor: string | null = first.nextCursor;
      let pages = 1;
      while (cursor !== null) {
        const next = await page(`/api/v1/audit?limit=5&cursor=${cursor}`);
        seen.push(...next.events.map((event) => event.id));
        cursor = next.nextCursor;
        pages += 1;
        assert.ok(pages < 20, "terminates");
      }
      assert.deepEqual(seen, all, "every event once, in order");
      assert.equal(pages, Math.ceil(all.length / 5));

      const filtered = await page("/api/v1/audit?actor=alice&limit=2");
      assert.ok(filtered.nextCursor);
      const rest = await page(`/api/v1/audit?actor=alice&limit=2&cursor=${filtered.nextCursor}`);
      assert.deepEqual(
        [...filtered.events, ...rest.events].map((event) => event.target),
        ["target-4", "target-2", "target-0"],
      );
      assert.equal(rest.nextCursor, null);
    });

    it("refuses forged cursors and invalid filters with 400 naming the field", async () => {
      const good = encodeAuditCursor(3);
      const b64 = (text: string): string => Buffer.from(text).toString("base64url");
      const cases: Array<[string, string]> = [
        ["cursor=abc", "querystring.cursor"],
        [`cursor=${b64("v1:0")}`, "querystring.cursor"],
        [`cursor=${b64("v1:-1")}`, "querystring.cursor"],
        [`cursor=${b64("v1:007")}`, "querystring.cursor"],
        [`cursor=${b64("v2:3")}`, "querystring.cursor"],
        [`cursor=${b64("v1:3 or 1=1")}`, "querystring.cursor"],
        [`cursor=${b64("v1:99999999999999999")}`, "querystring.cursor"],
        [`cursor=${good}%3D`, "querystring.cursor"],
        [`cursor=${good.slice(0, -1)}`, "querystring.cursor"],
        [`cursor=${"A".repeat(65)}`, "querystring.cursor"],
        ["cursor=", "querystring.cursor"],
        [`cursor=${good}&cursor=${good}`, "querystring.cursor"],
        ["limit=0", "querystring.limit"],
        ["limit=201", "querystring.limit"],
        ["limit=abc", "querystring.limit"],
        ["limit=1.5", "querystring.limit"],
        ["limit=-1", "querystring.limit"],
        ["since=yesterday", "querystring.since"],
        ["since=2020-01-01", "querystring.since"],
        ["since=2020-01-01T00:00:00", "querystring.since"],
        ["until=2020-13-01T00:00:00Z", "querystring.until"],
        ["since=2020-01-02T00:00:00Z&until=2020-01-01T00:00:00Z", "querystring.until"],
        ["since=2020-01-01T00:00:00Z&until=2020-01-01T00:00:00Z", "querystring.until"],
        ["actor=a%20b", "querystring.actor"],
        ["actor=%00", "querystring.actor"],
        [`actor=${"a".repeat(26)}`, "querystring.actor"],
        ["action=LOGIN", "querystring.action"],
        ["action=a%27%3B--", "querystring.action"],
        ["secret=1", "querystring"],
      ];
      for (const [query, path] of cases) {
        const response = await get(`/api/v1/audit?${query}`, admin);
        assert.equal(response.statusCode, 400, `${query}: ${response.body}`);
        const problem = JSON.parse(response.body) as { errors?: Array<{ path: string }> };
        assert.ok(
          problem.errors?.some((error) => error.path === path),
          `${query} names ${path}: ${response.body}`,
        );
      }
      // A well-formed cursor is fine, even one past the end.
      assert.equal((await get(`/api/v1/audit?cursor=${good}`, admin)).statusCode, 200);
      const pastEnd = await page(`/api/v1/audit?cursor=${encodeAuditCursor(1)}`);
      assert.deepEqual(pastEnd, { events: [], nextCursor: null });
    });

    it("never carries a secret value, password, key or session token", async () => {
      const oldKey = newMasterKey("old");
      const seeded = await seedSecretVersions(t.database.db, [oldKey], {
        vaults: 1,
        secrets: 2,
        versions: 2,
      });
      await rotateKeys(t.database.db, [...t.config.masterKeys, oldKey], {
        reencrypt: true,
        actor: { id: admin.userId, name: "admin1", address: null },
      });
      const response = await get("/api/v1/audit?limit=200", admin);
      assert.equal(response.statusCode, 200);
      const body = JSON.parse(response.body) as AuditPageBody;
      const rotation = body.events.find((event) => event.action === "keys.rotate");
      assert.equal(rotation?.actor, "admin1");
      assert.equal(rotation?.details?.rewrapped, 4);

      const forbidden = [
        GOOD_PASSWORD,
        admin.cookie.split("=")[1] ?? "??",
        admin.csrfToken,
        oldKey.entry.split(":")[1] ?? "??",
        ...t.config.masterKeys.map((key) => key.key.reveal().toString("base64")),
        ...seeded.flatMap((version) => [
          version.value.toString(),
          ...(version.note ? [version.note.toString()] : []),
        ]),
      ];
      for (const text of forbidden) assert.ok(!response.body.includes(text), "nothing secret");
      assert.ok(!/prev_hash|"hash"|actor_id/.test(response.body), "no chain internals");
    });
  });
}

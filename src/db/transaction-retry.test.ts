import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, it } from "node:test";
import { type Kysely, sql } from "kysely";
import { testDatabaseTargets } from "../../test/helpers/databases.js";
import { type DatabaseHandle, openDatabase } from "./database.js";
import type { Database } from "./schema.js";
import { withTransactionRetry } from "./transaction-retry.js";

/** An error as the driver raises it. */
function driverError(code: string): Error {
  return Object.assign(new Error(`driver error ${code}`), { code });
}

async function createProbeTable(db: Kysely<Database>): Promise<void> {
  await sql`create table retry_probe (id integer primary key, n integer not null)`.execute(db);
}

async function resetProbeRows(db: Kysely<Database>): Promise<void> {
  await sql`delete from retry_probe`.execute(db);
  await sql`insert into retry_probe (id, n) values (1, 0), (2, 0)`.execute(db);
}

async function bump(db: Kysely<Database>, id: number): Promise<void> {
  await sql`update retry_probe set n = n + 1 where id = ${id}`.execute(db);
}

async function countOf(db: Kysely<Database>, id: number): Promise<number> {
  const { rows } = await sql<{ n: number }>`select n from retry_probe where id = ${id}`.execute(db);
  return Number(rows[0]?.n);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

for (const kind of testDatabaseTargets()) {
  describe(`withTransactionRetry on ${kind.name}`, () => {
    let handle: DatabaseHandle;
    let cleanup: () => Promise<void>;
    /** The code this engine uses for "you lost a race, run it again". */
    const retryable = kind.name === "postgres" ? "40P01" : "SQLITE_BUSY_SNAPSHOT";

    before(async () => {
      const database = await kind.create();
      cleanup = database.cleanup;
      handle = await openDatabase(database.target);
      await createProbeTable(handle.db);
    });
    after(async () => {
      await handle?.close();
      await cleanup?.();
    });
    beforeEach(() => resetProbeRows(handle.db));

    it("runs the work once in a transaction and returns its result", async () => {
      let runs = 0;
      const result = await withTransactionRetry(handle.db, async (trx) => {
        runs += 1;
        assert.equal(trx.isTransaction, true);
        await bump(trx, 1);
        return "done";
      });
      assert.equal(result, "done");
      assert.equal(runs, 1);
      assert.equal(await countOf(handle.db, 1), 1);
    });

    it("after a retryable error, rolls the run back and runs the work again in a new transaction", async () => {
      let runs = 0;
      const retries: Array<[unknown, number]> = [];
      const failure = driverError(retryable);
      await withTransactionRetry(
        handle.db,
        async (trx) => {
          runs += 1;
          await bump(trx, 1);
          if (runs === 1) throw failure;
        },
        { baseDelayMs: 1, onRetry: (error, attempt) => retries.push([error, attempt]) },
      );
      assert.equal(runs, 2);
      assert.deepEqual(retries, [[failure, 1]]);
      assert.equal(await countOf(handle.db, 1), 1, "the first run's write was rolled back");
    });

    it("throws any other error at once, after rolling its run back", async () => {
      for (const failure of [
        driverError(kind.name === "postgres" ? "23505" : "SQLITE_CONSTRAINT_UNIQUE"),
        driverError(kind.name === "postgres" ? "57P01" : "SQLITE_BUSY"),
        new Error("a rule of the service said no"),
      ]) {
        let runs = 0;
        await assert.rejects(
          withTransactionRetry(handle.db, async (trx) => {
            runs += 1;
            await bump(trx, 1);
            throw failure;
          }),
          (error) => error === failure,
        );
        assert.equal(runs, 1, failure.message);
      }
      // A real unique violation from the database, too.
      let runs = 0;
      await assert.rejects(
        withTransactionRetry(handle.db, async (trx) => {
          runs += 1;
          await sql`insert into retry_probe (id, n) values (1, 5)`.execute(trx);
        }),
        (error) => handle.dialect.isUniqueViolation(error),
      );
      assert.equal(runs, 1);
      assert.equal(await countOf(handle.db, 1), 0, "nothing was written");
    });

    it("gives up after `attempts` runs and throws the last error", async () => {
      let runs = 0;
      const thrown: Error[] = [];
      await assert.rejects(
        withTransactionRetry(
          handle.db,
          async (trx) => {
            runs += 1;
            await bump(trx, 1);
            const failure = driverError(retryable);
            thrown.push(failure);
            throw failure;
          },
          { attempts: 3, baseDelayMs: 1 },
        ),
        (error) => error === thrown.at(-1),
      );
      assert.equal(runs, 3);
      assert.equal(await countOf(handle.db, 1), 0);
    });

    it("inside a transaction runs the work once: only the outermost owner may run it again", async () => {
      let runs = 0;
      const failure = driverError(retryable);
      await assert.rejects(
        handle.db.transaction().execute((trx) =>
          withTransactionRetry<Database, void>(trx, async (inner) => {
            runs += 1;
            assert.equal(inner, trx);
            throw failure;
          }),
        ),
        (error) => error === failure,
      );
      assert.equal(runs, 1);
    });

    it("refuses a number of attempts that is not a positive integer", async () => {
      for (const attempts of [0, -1, 1.5, Number.NaN]) {
        await assert.rejects(
          withTransactionRetry(handle.db, async () => {}, { attempts }),
          RangeError,
        );
      }
    });

    if (kind.name === "postgres") {
      it("two writers locking two rows in opposite orders: the deadlock victim runs again, and both commit", async () => {
        const holding = [deferred(), deferred()];
        let runs = 0;
        const retried: unknown[] = [];
        const writer = (mine: 0 | 1) =>
          withTransactionRetry(
            handle.db,
            async (trx) => {
              runs += 1;
              await bump(trx, mine + 1);
              // Both hold their first row before either reaches for the other's.
              holding[mine]?.resolve();
              await Promise.all(holding.map((held) => held.promise));
              await bump(trx, 2 - mine);
            },
            { onRetry: (error) => retried.push(error) },
          );
        await Promise.all([writer(0), writer(1)]);
        assert.equal(retried.length, 1, "exactly one of them was rolled back");
        assert.equal((retried[0] as { code?: unknown }).code, "40P01");
        assert.equal(runs, 3);
        assert.equal(await countOf(handle.db, 1), 2);
        assert.equal(await countOf(handle.db, 2), 2);
      });

      it("a real serialization failure (repeatable read, a concurrent update) is retryable", async () => {
        const failure = await handle.db
          .transaction()
          .setIsolationLevel("repeatable read")
          .execute(async (trx) => {
            await countOf(trx, 1); // takes the snapshot
            await bump(handle.db, 1); // another connection commits a change to the row
            await bump(trx, 1);
          })
          .then(
            () => null,
            (error: unknown) => error,
          );
        assert.equal((failure as { code?: unknown } | null)?.code, "40001");
        assert.equal(handle.dialect.isRetryableTransactionError(failure), true);
      });
    }
  });
}

describe("withTransactionRetry on SQLite with a second connection", () => {
  let dir: string;
  let first: DatabaseHandle;
  let second: DatabaseHandle;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "strongroom-retry-"));
    const target = { kind: "sqlite", path: join(dir, "shared.db") } as const;
    first = await openDatabase(target);
    second = await openDatabase(target);
    await createProbeTable(first.db);
    await resetProbeRows(first.db);
  });
  after(async () => {
    await first?.close();
    await second?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("a transaction that read before another process wrote gets SQLITE_BUSY_SNAPSHOT; run again, it commits", async () => {
    let runs = 0;
    const retried: unknown[] = [];
    await withTransactionRetry(
      first.db,
      async (trx) => {
        runs += 1;
        const before = await countOf(trx, 1);
        // Another process (the CLI next to the server) writes after this one read.
        if (runs === 1) await bump(second.db, 1);
        await sql`update retry_probe set n = ${before + 1} where id = 1`.execute(trx);
      },
      { baseDelayMs: 1, onRetry: (error) => retried.push(error) },
    );
    assert.equal(runs, 2);
    assert.equal((retried[0] as { code?: unknown }).code, "SQLITE_BUSY_SNAPSHOT");
    assert.equal(await countOf(first.db, 1), 2, "neither write was lost");
  });
});

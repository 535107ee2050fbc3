import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { postgresDialect, sqliteDialect } from "./dialect.js";

/** An error as a driver raises it: an `Error` with a string `code`. */
function driverError(code: string, message = "driver error"): Error {
  return Object.assign(new Error(message), { code });
}

/** The same error as a caller may rethrow it, wrapped once or twice. */
function wrapped(error: Error): Error[] {
  return [
    error,
    new Error("outer", { cause: error }),
    new Error("outermost", { cause: new Error("outer", { cause: error }) }),
  ];
}

describe("Dialect.isRetryableTransactionError", () => {
  it("on PostgreSQL: serialization_failure (40001) and deadlock_detected (40P01), wrapped or not", () => {
    for (const code of ["40001", "40P01"]) {
      for (const error of wrapped(driverError(code)))
        assert.equal(postgresDialect.isRetryableTransactionError(error), true, code);
    }
  });

  it("on PostgreSQL: nothing else — constraint violations, lost connections, other aborts", () => {
    for (const code of [
      "23505", // unique_violation: putSecret handles it itself, as a new version
      "23503",
      "40002", // transaction_integrity_constraint_violation: re-running would fail the same way
      "40003", // statement_completion_unknown: the outcome is unknown, not a lost race
      "25P02", // in_failed_sql_transaction
      "57P01",
      "57014", // query_canceled (statement_timeout)
      "08006",
      "ECONNRESET",
    ]) {
      assert.equal(postgresDialect.isRetryableTransactionError(driverError(code)), false, code);
    }
    for (const value of [new Error("deadlock detected"), null, undefined, "40P01", { code: 40001 }])
      assert.equal(postgresDialect.isRetryableTransactionError(value), false, String(value));
  });

  it("on SQLite: only SQLITE_BUSY_SNAPSHOT; plain SQLITE_BUSY was already waited out by busy_timeout", () => {
    for (const error of wrapped(driverError("SQLITE_BUSY_SNAPSHOT")))
      assert.equal(sqliteDialect.isRetryableTransactionError(error), true);
    for (const code of [
      "SQLITE_BUSY",
      "SQLITE_BUSY_TIMEOUT",
      "SQLITE_LOCKED",
      "SQLITE_CONSTRAINT_UNIQUE",
      "40P01",
    ]) {
      assert.equal(sqliteDialect.isRetryableTransactionError(driverError(code)), false, code);
    }
  });

  it("never calls a retryable error a connection error, nor the other way round", () => {
    for (const code of ["40001", "40P01"])
      assert.equal(postgresDialect.isConnectionError(driverError(code)), false, code);
    assert.equal(sqliteDialect.isConnectionError(driverError("SQLITE_BUSY_SNAPSHOT")), false);
  });
});

describe("postgresDialect.isConnectionError", () => {
  it("recognises what a PostgreSQL restart throws at the application", () => {
    const seen = [
      // Connecting while the server is down (one address, and dual-stack localhost).
      driverError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432"),
      new AggregateError([driverError("ECONNREFUSED", "connect ECONNREFUSED ::1:5432")], ""),
      // A session ended by `pg_ctl stop -m fast` or pg_terminate_backend.
      driverError("57P01", "terminating connection due to administrator command"),
      // Connecting while it shuts down, starts or recovers.
      driverError("57P03", "the database system is shutting down"),
      driverError("57P03", "the database system is starting up"),
      // pg, for a query on a connection that died under it, or after it died.
      new Error("Connection terminated unexpectedly"),
      new Error("Client has encountered a connection error and is not queryable"),
      // pg's pool, when no connection could be made in connectionTimeoutMillis.
      new Error("timeout exceeded when trying to connect"),
      new Error("Connection terminated due to connection timeout"),
      driverError("53300", "sorry, too many clients already"),
    ];
    for (const error of seen) {
      for (const form of wrapped(error))
        assert.equal(postgresDialect.isConnectionError(form), true, error.message);
    }
  });

  it("counts a statement cut short by the statement timeout (57014) as unavailable: 503", () => {
    for (const form of wrapped(
      driverError("57014", "canceling statement due to statement timeout"),
    ))
      assert.equal(postgresDialect.isConnectionError(form), true);
  });

  it("leaves every other failure a 500", () => {
    for (const error of [
      driverError("23505", "duplicate key value violates unique constraint"),
      driverError("42P01", 'relation "secrets" does not exist'),
      new Error("Cannot read properties of undefined"),
    ]) {
      assert.equal(postgresDialect.isConnectionError(error), false, error.message);
    }
  });
});

/**
 * Every migration, listed by hand. A static record rather than a directory scan, so the set
 * is fixed at build time, works from any working directory or bundle, and a stray file can
 * never run. Names sort in the order they apply; add new ones at the end.
 */
import type { Migration, MigrationProvider } from "kysely";
import * as initial from "./0001-initial.js";
import * as passkeys from "./0002-passkeys.js";
import * as shareHandles from "./0003-share-handles.js";

/** Migrations by name, in order. */
export const migrations: Readonly<Record<string, Migration>> = Object.freeze({
  "0001_initial": initial,
  "0002_passkeys": passkeys,
  "0003_share_handles": shareHandles,
});

/** A Kysely `MigrationProvider` over {@link migrations}. */
export const migrationProvider: MigrationProvider = {
  getMigrations: async () => ({ ...migrations }),
};

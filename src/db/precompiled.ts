/**
 * Queries built and compiled once, then run with new arguments: for the few statements on
 * every request's path, where building and compiling a Kysely query costs more than SQLite
 * takes to run it.
 */
import { type Compilable, type CompiledQuery, createQueryId, type Kysely } from "kysely";
import { dialectOf } from "./dialect.js";

/** Stands for the `index`-th argument while the query is compiled. */
class Argument {
  constructor(readonly index: number) {}
}

interface Template {
  sql: string;
  query: CompiledQuery["query"];
  /** The compiled parameters: {@link Argument}s to fill in, or constants of the query. */
  parameters: readonly unknown[];
}

/**
 * Wraps `build` so that its query is compiled once per engine (the SQL depends only on the
 * dialect) and afterwards only has its parameters bound: each call returns the rows the
 * built query would, for the arguments given.
 *
 * `build` must use its arguments only as bound values (`where(column, "=", arg)` and the
 * like): never to choose the shape of the query, never inside `in` lists, never as
 * identifiers or raw SQL. The first compile checks that each argument became exactly one
 * parameter and throws otherwise, so a misuse fails at once rather than binding wrongly.
 */
export function precompiled<DB, Args extends readonly unknown[], Row>(
  build: (db: Kysely<DB>, ...args: Args) => Compilable<Row>,
): (db: Kysely<DB>, ...args: Args) => Promise<Row[]> {
  const templates = new Map<string, Template>();
  return async (db, ...args) => {
    const engine = dialectOf(db).name;
    let template = templates.get(engine);
    if (template === undefined) {
      const placeholders = args.map((_, index) => new Argument(index)) as unknown as Args;
      const compiled = build(db, ...placeholders).compile();
      const used = compiled.parameters.filter((p) => p instanceof Argument).map((p) => p.index);
      if (used.length !== args.length || new Set(used).size !== args.length) {
        throw new Error("precompiled: each argument must be bound exactly once");
      }
      template = { sql: compiled.sql, query: compiled.query, parameters: compiled.parameters };
      templates.set(engine, template);
    }
    const result = await db.executeQuery<Row>({
      sql: template.sql,
      query: template.query,
      queryId: createQueryId(),
      parameters: template.parameters.map((p) => (p instanceof Argument ? args[p.index] : p)),
    });
    return result.rows;
  };
}

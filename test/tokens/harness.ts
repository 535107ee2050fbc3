import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { openDatabase } from "../../src/db/database.js";
import type { DatabaseTarget } from "../../src/db/url.js";
import type { Principal } from "../../src/http/authentication.js";
import { bearerAuthenticator, tokenRoutes } from "../../src/tokens/index.js";
import type { TestApp } from "../helpers/app.js";
import { createTestApp } from "../helpers/app.js";

/** Answers with the principal the bearer authenticator finds (or its 401). */
export const PRINCIPAL_PROBE_URL = "/api/v1/__test/bearer-principal";

/**
 * The test app with API tokens wired in as app.ts wires them: `tokenRoutes` under `/api/v1`
 * and the bearer authenticator ahead of the session cookie. While app.ts does not do so yet,
 * this harness does it in a scope of its own; once app.ts does, the app's own routes and
 * authenticator are the ones under test and the harness only adds the principal probe.
 *
 * `createTestApp` reveals its database only after `routes` has run, so the harness gives the
 * app a database file of its own choosing and opens a second connection to it for the plugin.
 */
export async function createTokensTestApp(): Promise<TestApp> {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-tokens-"));
  const target: DatabaseTarget = { kind: "sqlite", path: join(dir, "strongroom.db") };
  const connection = await openDatabase(target);
  const db = connection.db;
  let app: TestApp | undefined;
  const now = (): Date => {
    if (app === undefined) throw new Error("the test app is not ready yet");
    return app.clock.now();
  };
  const bearer = bearerAuthenticator(db, now, "none");

  const routes = async (root: FastifyInstance): Promise<void> => {
    const wired = root.hasRoute({ method: "GET", url: "/api/v1/me/tokens" });
    await root.register(
      async (scope) => {
        if (!wired) {
          // What app.ts will do: a bearer header decides the caller, or fails the request.
          scope.addHook("onRequest", async (request, reply) => {
            const principal = await bearer(request, reply);
            if (principal !== null) request.principal = principal;
          });
          await scope.register(tokenRoutes, { db, now });
        }
        scope.get(
          PRINCIPAL_PROBE_URL.slice("/api/v1".length),
          async (request, reply): Promise<{ principal: Principal | null }> => ({
            principal: await bearer(request, reply),
          }),
        );
      },
      { prefix: "/api/v1" },
    );
  };

  try {
    app = await createTestApp({ target, routes });
  } catch (error) {
    await connection.close();
    throw error;
  }
  const close = app.close;
  return {
    ...app,
    close: async () => {
      await close();
      await connection.close();
    },
  };
}

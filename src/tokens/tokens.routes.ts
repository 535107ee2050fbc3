import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { Db } from "../db/schema.js";
import type { Principal } from "../http/authentication.js";
import { requireSession } from "../http/authentication.js";
import type { ZodTypeProvider } from "../http/zod.js";
import { authorize } from "../policy/policy.js";
import {
  createdTokenResponse,
  createTokenBody,
  tokenIdParams,
  tokenResponse,
} from "./tokens.schema.js";
import { createApiToken, listApiTokens, revokeApiToken } from "./tokens.service.js";

export interface TokenRouteOptions {
  db: Db;
  /** The clock; tests inject one to move time. */
  now: () => Date;
}

/**
 * Token management is for a signed-in browser session only (401 otherwise): a token can never
 * mint, list or revoke tokens, so a leaked token cannot entrench itself. The policy then
 * refuses auditors (403).
 */
function requireTokenManager(request: FastifyRequest): Principal {
  const principal = requireSession(request);
  authorize(principal, "token.manage");
  return principal;
}

/** `/me/tokens*` (registered under `/api/v1`): list, create and revoke one's API tokens. */
export async function tokenRoutes(
  app: FastifyInstance,
  { db, now }: TokenRouteOptions,
): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  // Who may manage tokens is settled before the body is parsed or validated, so a caller who
  // may not gets 401/403 whatever they sent. Runs after the app's authentication hook.
  app.addHook("onRequest", async (request) => {
    requireTokenManager(request);
  });

  routes.get(
    "/me/tokens",
    { schema: { response: { 200: z.object({ tokens: z.array(tokenResponse) }) } } },
    async (request) => {
      const principal = requireSession(request);
      return { tokens: await listApiTokens(db, principal.userId) };
    },
  );

  routes.post(
    "/me/tokens",
    {
      // A new credential: only from a session that proved the password lately.
      config: { stepUp: true },
      schema: { body: createTokenBody, response: { 201: createdTokenResponse } },
    },
    async (request, reply) => {
      const principal = requireSession(request);
      const { token, apiToken } = await createApiToken(db, {
        ...request.body,
        userId: principal.userId,
        username: principal.username,
        now: now(),
        address: request.ip,
      });
      // The token text is in this response and nowhere else, ever: keep it out of caches.
      reply.header("cache-control", "no-store");
      reply.status(201);
      return { ...apiToken, token };
    },
  );

  routes.delete("/me/tokens/:id", { schema: { params: tokenIdParams } }, async (request, reply) => {
    const principal = requireSession(request);
    await revokeApiToken(db, {
      userId: principal.userId,
      username: principal.username,
      tokenId: request.params.id,
      now: now(),
      address: request.ip,
    });
    reply.status(204);
  });
}

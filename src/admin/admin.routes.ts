import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Actor } from "../accounts/admin-actions.service.js";
import { presentUser } from "../accounts/presenters.js";
import { createUser } from "../accounts/registration.service.js";
import type { Config } from "../config/config.js";
import type { Db } from "../db/schema.js";
import { requirePrincipal, requireSession } from "../http/authentication.js";
import type { ZodTypeProvider } from "../http/zod.js";
import { authorize } from "../policy/policy.js";
import {
  createUserBody,
  endedSessionsResponse,
  listUsersQuery,
  updateUserBody,
  userEnvelopeResponse,
  userListResponse,
  usernameParams,
} from "./admin.schema.js";
import {
  changeUser,
  deleteUser,
  endAllSessions,
  endUserSessions,
  listUsers,
} from "./admin.service.js";

/**
 * What the admin routes need. The routes read these when a request arrives, not when the
 * plugin is registered, so an option may be a getter resolved later (tests use that).
 */
export interface AdminRoutesOptions {
  db: Db;
  /** The app's configuration: the password policy and Argon2 cost, `secretKey` for cursors. */
  config: Config;
  /** The clock. */
  now: () => Date;
}

/**
 * Creating, changing (role, disabled) and deleting accounts, and ending sessions, need a
 * session that proved the password or a second factor within `REAUTH_MINUTES`
 * (session-gates.ts): an unattended admin browser must not be enough to hand out the admin
 * role or sign everyone out.
 */
const STEP_UP = { stepUp: true } as const;

/** Who performs an action, for the audit log. */
function actorOf(request: FastifyRequest): Actor {
  const principal = requirePrincipal(request);
  return { id: principal.userId, name: principal.username, address: request.ip };
}

/**
 * `/admin/users*` (SPEC §4) and `/admin/sessions`: user administration for administrators
 * signed in with a browser session. API tokens and every other role are refused by the
 * policy (`user.admin`). Account creation here works in every REGISTRATION mode: it is how
 * accounts are made when registration is `invite`.
 */
export async function adminRoutes(
  app: FastifyInstance,
  options: AdminRoutesOptions,
): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  // Every route here is user administration: anyone else is refused before the body is even
  // parsed or validated (401 anonymous, 403 tokens and non-administrators).
  app.addHook("onRequest", async (request) => {
    authorize(requirePrincipal(request), "user.admin");
  });

  routes.get(
    "/admin/users",
    { schema: { querystring: listUsersQuery, response: { 200: userListResponse } } },
    async (request) => {
      const page = await listUsers(options.db, options.config.secretKey, request.query);
      return { users: page.users.map(presentUser), nextCursor: page.nextCursor };
    },
  );

  routes.post(
    "/admin/users",
    {
      config: STEP_UP,
      schema: { body: createUserBody, response: { 201: userEnvelopeResponse } },
    },
    async (request, reply) => {
      const user = await createUser(
        options.db,
        { config: options.config, now: options.now },
        request.body,
        actorOf(request),
      );
      reply.status(201);
      return { user: presentUser(user) };
    },
  );

  routes.patch(
    "/admin/users/:username",
    {
      config: STEP_UP,
      schema: {
        params: usernameParams,
        body: updateUserBody,
        response: { 200: userEnvelopeResponse },
      },
    },
    async (request) => {
      const user = await changeUser(
        options.db,
        options.now(),
        request.params.username,
        request.body,
        actorOf(request),
      );
      return { user: presentUser(user) };
    },
  );

  routes.delete(
    "/admin/users/:username",
    { config: STEP_UP, schema: { params: usernameParams } },
    async (request, reply) => {
      await deleteUser(options.db, options.now(), request.params.username, actorOf(request));
      reply.status(204);
    },
  );

  // Ending sessions (ASVS 7.4.5): after a suspected compromise, without disabling anyone.
  // Sessions only: API tokens keep working (revoke them, or disable the user, for those).
  routes.delete(
    "/admin/users/:username/sessions",
    {
      config: STEP_UP,
      schema: { params: usernameParams, response: { 200: endedSessionsResponse } },
    },
    async (request) => {
      const endedSessions = await endUserSessions(
        options.db,
        options.now(),
        request.params.username,
        actorOf(request),
      );
      return { endedSessions };
    },
  );

  routes.delete(
    "/admin/sessions",
    { config: STEP_UP, schema: { response: { 200: endedSessionsResponse } } },
    async (request) => {
      // The caller's own session stays, so the administrator is not signed out by their own
      // action (the onRequest hook has already refused anything but a session).
      const { sessionId } = requireSession(request);
      const endedSessions = await endAllSessions(
        options.db,
        options.now(),
        actorOf(request),
        sessionId,
      );
      return { endedSessions };
    },
  );
}

import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAuditEvent } from "../audit/audit.service.js";
import { dialectOf } from "../db/dialect.js";
import type { Database } from "../db/schema.js";
import { requireSession } from "../http/authentication.js";
import type { ZodTypeProvider } from "../http/zod.js";
import { conflict, notFound, unauthenticated } from "../lib/errors.js";
import {
  changePasswordBody,
  emailKey,
  meResponse,
  sessionIdParams,
  sessionResponse,
  totpConfirmBody,
  totpDisableBody,
  updateMeBody,
} from "./accounts.schema.js";
import type { AccountsRouteOptions } from "./auth.routes.js";
import { requestOrigin } from "./auth.routes.js";
import { tooManyAttempts } from "./errors.js";
import { confirmTotpEnrolment, disableTotp, startTotpEnrolment } from "./mfa.service.js";
import { changePassword } from "./passwords.service.js";
import { presentMe, presentSession } from "./presenters.js";
import { setSessionCookie } from "./session-cookie.js";
import {
  deleteUserSession,
  deleteUserSessions,
  findSession,
  listUserSessions,
} from "./sessions.repository.js";
import { csrfTokenForSession } from "./sessions.service.js";
import { findUserById, updateUser } from "./users.repository.js";

/** `/api/v1/me*`: the signed-in user's profile, password, sessions and two-factor. */
export async function meRoutes(
  app: FastifyInstance,
  { db, ctx }: AccountsRouteOptions,
): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  const currentUser = async (userId: string) => {
    const user = await findUserById(db, userId);
    if (user === null) throw unauthenticated();
    return user;
  };
  const currentSession = async (sessionId: string) => {
    const session = await findSession(db, sessionId);
    if (session === null) throw unauthenticated();
    return session;
  };

  routes.get(
    "/me",
    { schema: { response: { 200: z.object({ user: meResponse, csrfToken: z.string() }) } } },
    async (request) => {
      const principal = requireSession(request);
      const user = await currentUser(principal.userId);
      return {
        user: presentMe(user),
        csrfToken: csrfTokenForSession(ctx.config.secretKey, principal.sessionId),
      };
    },
  );

  // Only the e-mail address can be changed here: the strict schema refuses `role`,
  // `username` or any other field with a 400 instead of ignoring it.
  routes.patch(
    "/me",
    { schema: { body: updateMeBody, response: { 200: z.object({ user: meResponse }) } } },
    async (request) => {
      const principal = requireSession(request);
      const user = await currentUser(principal.userId);
      const now = ctx.now();
      // Each change can tell whether an address is taken (409): bounded per user.
      const allowed = await ctx.limits.emailChangePerUser.consume(user.id);
      if (!allowed.allowed) throw tooManyAttempts(allowed.retryAfterSeconds);
      try {
        await updateUser(db, user.id, {
          email: request.body.email,
          email_key: emailKey(request.body.email),
          updated_at: now.toISOString(),
        });
      } catch (error) {
        if (dialectOf<Database>(db).isUniqueViolation(error))
          throw conflict("That e-mail address cannot be used.");
        throw error;
      }
      await recordAuditEvent(
        db,
        {
          actorId: user.id,
          actorName: user.username,
          action: "account.email-change",
          target: user.username,
          address: request.ip,
          outcome: "success",
        },
        now,
      );
      // Tell the old address, so a hijacked session changing it does not go unnoticed.
      const notice = {
        to: user.email,
        subject: "Your Strongroom e-mail address was changed",
        text: `The e-mail address of ${user.username} was changed to ${request.body.email}.\n\nIf you did not do this, reset your password and contact an administrator.`,
      };
      setImmediate(() => {
        ctx.mailer
          .send(notice)
          .catch((error: unknown) =>
            ctx.logger.error({ err: error }, "e-mail change notice failed"),
          );
      });
      return { user: presentMe(await currentUser(user.id)) };
    },
  );

  routes.post("/me/password", { schema: { body: changePasswordBody } }, async (request, reply) => {
    const principal = requireSession(request);
    const session = await currentSession(principal.sessionId);
    const rotated = await changePassword(
      db,
      ctx,
      { userId: principal.userId, session, ...request.body },
      requestOrigin(request),
    );
    setSessionCookie(reply, ctx.config, rotated.token);
    reply.status(204);
  });

  routes.get(
    "/me/sessions",
    { schema: { response: { 200: z.object({ sessions: z.array(sessionResponse) }) } } },
    async (request) => {
      const principal = requireSession(request);
      const sessions = await listUserSessions(db, principal.userId, ctx.now().toISOString());
      return { sessions: sessions.map((session) => presentSession(session, principal.sessionId)) };
    },
  );

  routes.delete(
    "/me/sessions/:id",
    { schema: { params: sessionIdParams } },
    async (request, reply) => {
      const principal = requireSession(request);
      // Only the caller's own sessions: another user's id is simply not found.
      if (!(await deleteUserSession(db, principal.userId, request.params.id)))
        throw notFound("There is no such session.");
      await recordAuditEvent(
        db,
        {
          actorId: principal.userId,
          actorName: principal.username,
          action: "session.revoke",
          target: principal.username,
          address: request.ip,
          outcome: "success",
        },
        ctx.now(),
      );
      reply.status(204);
    },
  );

  routes.delete("/me/sessions", async (request, reply) => {
    const principal = requireSession(request);
    const count = await deleteUserSessions(db, principal.userId, principal.sessionId);
    await recordAuditEvent(
      db,
      {
        actorId: principal.userId,
        actorName: principal.username,
        action: "session.revoke-others",
        target: principal.username,
        address: request.ip,
        outcome: "success",
        details: { count },
      },
      ctx.now(),
    );
    reply.status(204);
  });

  routes.post(
    "/me/mfa/totp",
    {
      schema: {
        response: {
          200: z.object({ secret: z.string(), otpauthUrl: z.string(), qrCode: z.string() }),
        },
      },
    },
    async (request) => {
      const principal = requireSession(request);
      return startTotpEnrolment(db, ctx, principal.userId);
    },
  );

  routes.post(
    "/me/mfa/totp/confirm",
    {
      schema: {
        body: totpConfirmBody,
        response: { 200: z.object({ recoveryCodes: z.array(z.string()), csrfToken: z.string() }) },
      },
    },
    async (request, reply) => {
      const principal = requireSession(request);
      const session = await currentSession(principal.sessionId);
      const result = await confirmTotpEnrolment(
        db,
        ctx,
        { userId: principal.userId, session, code: request.body.code },
        requestOrigin(request),
      );
      setSessionCookie(reply, ctx.config, result.token);
      return {
        recoveryCodes: result.recoveryCodes,
        csrfToken: csrfTokenForSession(ctx.config.secretKey, result.session.id),
      };
    },
  );

  routes.delete("/me/mfa/totp", { schema: { body: totpDisableBody } }, async (request, reply) => {
    const principal = requireSession(request);
    await disableTotp(
      db,
      ctx,
      { userId: principal.userId, password: request.body.password },
      requestOrigin(request),
    );
    reply.status(204);
  });
}

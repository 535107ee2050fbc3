import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAuditEvent } from "../audit/audit.service.js";
import { requireSession } from "../http/authentication.js";
import type { ZodTypeProvider } from "../http/zod.js";
import { notFound, unauthenticated } from "../lib/errors.js";
import {
  changePasswordBody,
  meResponse,
  sessionIdParams,
  sessionResponse,
  totpConfirmBody,
  totpDisableBody,
  updateMeBody,
} from "./accounts.schema.js";
import type { AccountsRouteOptions } from "./auth.routes.js";
import { requestOrigin } from "./auth.routes.js";
import { confirmTotpEnrolment, disableTotp, startTotpEnrolment } from "./mfa.service.js";
import { changePassword } from "./passwords.service.js";
import { presentMe, presentSession } from "./presenters.js";
import { changeEmail } from "./profile.service.js";
import { setSessionCookie } from "./session-cookie.js";
import {
  deleteUserSession,
  deleteUserSessions,
  findSession,
  listUserSessions,
} from "./sessions.repository.js";
import { csrfTokenForSession } from "./sessions.service.js";
import { findUserById } from "./users.repository.js";

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

  // Marks for the session gates (session-gates.ts): what a session held to two-factor
  // enrolment may still do, and what needs a recent proof of the password or second factor.
  const beforeMfaEnrolment = { beforeMfaEnrolment: true };
  const stepUp = { stepUp: true as const };

  routes.get(
    "/me",
    {
      config: beforeMfaEnrolment,
      schema: {
        response: {
          200: z.object({
            user: meResponse,
            csrfToken: z.string(),
            mfaEnrolmentRequired: z.boolean(),
          }),
        },
      },
    },
    async (request) => {
      const principal = requireSession(request);
      const user = await currentUser(principal.userId);
      return {
        user: presentMe(user),
        csrfToken: csrfTokenForSession(ctx.config.secretKey, principal.sessionId),
        mfaEnrolmentRequired: principal.mfaEnrolmentRequired === true,
      };
    },
  );

  // Only the e-mail address can be changed here: the strict schema refuses `role`,
  // `username` or any other field with a 400 instead of ignoring it.
  routes.patch(
    "/me",
    {
      config: stepUp,
      schema: { body: updateMeBody, response: { 200: z.object({ user: meResponse }) } },
    },
    async (request) => {
      const principal = requireSession(request);
      await changeEmail(
        db,
        ctx,
        { userId: principal.userId, email: request.body.email },
        requestOrigin(request),
      );
      return { user: presentMe(await currentUser(principal.userId)) };
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

  // Ending sessions needs a recent proof too, so a stolen session cannot sign its owner out
  // everywhere else (ASVS 7.5.2).
  routes.delete(
    "/me/sessions/:id",
    { config: stepUp, schema: { params: sessionIdParams } },
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

  routes.delete("/me/sessions", { config: stepUp }, async (request, reply) => {
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

  // Turning two-factor on needs a recent proof (a stolen session must not bind its own
  // authenticator); turning it off and changing the password carry the password themselves.
  routes.post(
    "/me/mfa/totp",
    {
      config: { ...beforeMfaEnrolment, ...stepUp },
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
      config: { ...beforeMfaEnrolment, ...stepUp },
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

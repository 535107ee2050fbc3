import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { recordAuditEvent } from "../audit/audit.service.js";
import type { Db } from "../db/schema.js";
import { requireSession } from "../http/authentication.js";
import { logSecurityEvent } from "../http/security-events.js";
import type { ZodTypeProvider } from "../http/zod.js";
import { mustEnrolSecondFactor } from "../policy/mfa-requirement.js";
import {
  confirmRegistrationBody,
  loginBody,
  meResponse,
  passwordResetBody,
  passwordResetConfirmBody,
  reauthBody,
  reauthResponse,
  registerBody,
  userResponse,
} from "./accounts.schema.js";
import type { AccountsContext, RequestOrigin } from "./context.js";
import { login } from "./login.service.js";
import { confirmPasswordReset, requestPasswordReset } from "./passwords.service.js";
import { presentMe, presentUser } from "./presenters.js";
import { confirmRegistration, registerUser } from "./registration.service.js";
import { clearSessionCookie, setSessionCookie } from "./session-cookie.js";
import { deleteSession } from "./sessions.repository.js";
import { csrfTokenForSession } from "./sessions.service.js";
import { reauthenticate } from "./step-up.service.js";

export interface AccountsRouteOptions {
  db: Db;
  ctx: AccountsContext;
}

/** Where the request came from (the proxy-corrected address when TRUST_PROXY applies). */
export function requestOrigin(request: FastifyRequest): RequestOrigin {
  const userAgent = request.headers["user-agent"];
  return {
    address: request.ip,
    userAgent: typeof userAgent === "string" ? userAgent : null,
    securityEvent: (event, fields) => logSecurityEvent(request, event, fields),
  };
}

/** `/api/v1/auth/*`: sign-up, sign-in, sign-out, password reset. */
export async function authRoutes(
  app: FastifyInstance,
  { db, ctx }: AccountsRouteOptions,
): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  // These are reached before having a session: the Origin check applies, the token cannot.
  const beforeSession = { csrf: "origin-only" as const };

  routes.post(
    "/auth/register",
    {
      config: beforeSession,
      schema: {
        body: registerBody,
        response: { 201: z.object({ user: userResponse, verificationRequired: z.boolean() }) },
      },
    },
    async (request, reply) => {
      const user = await registerUser(db, ctx, request.body, requestOrigin(request));
      reply.status(201);
      return { user, verificationRequired: true };
    },
  );

  routes.post(
    "/auth/register/confirm",
    {
      config: beforeSession,
      schema: {
        body: confirmRegistrationBody,
        response: { 201: z.object({ user: userResponse }) },
      },
    },
    async (request, reply) => {
      const user = await confirmRegistration(db, ctx, request.body.token, requestOrigin(request));
      reply.status(201);
      return { user: presentUser(user) };
    },
  );

  routes.post(
    "/auth/login",
    {
      config: beforeSession,
      schema: {
        body: loginBody,
        response: {
          200: z.object({
            user: meResponse,
            csrfToken: z.string(),
            mfaEnrolmentRequired: z.boolean(),
          }),
        },
      },
    },
    async (request, reply) => {
      const { user, token, session } = await login(db, ctx, request.body, requestOrigin(request));
      setSessionCookie(reply, ctx.config, token);
      return {
        user: presentMe(user),
        csrfToken: csrfTokenForSession(ctx.config.secretKey, session.id),
        // True: REQUIRE_MFA holds this session to two-factor enrolment until it is done.
        mfaEnrolmentRequired: mustEnrolSecondFactor(ctx.config.requireMfa, user),
      };
    },
  );

  // Step-up: prove the password or a second factor again (throttled, audited). Reachable
  // during enforced enrolment, whose actions need a recent proof too.
  routes.post(
    "/auth/reauth",
    {
      config: { beforeMfaEnrolment: true },
      schema: { body: reauthBody, response: { 200: reauthResponse } },
    },
    async (request) => {
      const principal = requireSession(request);
      const proven = await reauthenticate(
        db,
        ctx,
        { userId: principal.userId, sessionId: principal.sessionId, proof: request.body },
        requestOrigin(request),
      );
      return { reauthenticatedAt: proven.provenAt, expiresAt: proven.expiresAt };
    },
  );

  // Public: signing out without a (valid) session still clears the browser's cookies.
  routes.post("/auth/logout", { config: { public: true } }, async (request, reply) => {
    const principal = request.principal;
    if (principal?.kind === "session" && principal.sessionId !== null) {
      await deleteSession(db, principal.sessionId);
      await recordAuditEvent(
        db,
        {
          actorId: principal.userId,
          actorName: principal.username,
          action: "logout",
          target: principal.username,
          address: request.ip,
          outcome: "success",
        },
        ctx.now(),
      );
    }
    clearSessionCookie(reply, ctx.config);
    // Tell the browser to drop anything it kept for this origin (RFC: Clear Site Data).
    reply.header("clear-site-data", '"cache", "cookies", "storage"');
    reply.status(204);
  });

  routes.post(
    "/auth/password-reset",
    { config: beforeSession, schema: { body: passwordResetBody } },
    async (request, reply) => {
      await requestPasswordReset(db, ctx, request.body.email, requestOrigin(request));
      reply.status(202);
      return { status: "accepted" };
    },
  );

  routes.post(
    "/auth/password-reset/confirm",
    { config: beforeSession, schema: { body: passwordResetConfirmBody } },
    async (request, reply) => {
      await confirmPasswordReset(
        db,
        ctx,
        request.body.token,
        request.body.password,
        requestOrigin(request),
      );
      clearSessionCookie(reply, ctx.config);
      reply.status(204);
    },
  );
}

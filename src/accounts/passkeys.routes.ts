import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { requireSession } from "../http/authentication.js";
import type { ZodTypeProvider } from "../http/zod.js";
import { unauthenticated } from "../lib/errors.js";
import { mustEnrolSecondFactor } from "../policy/mfa-requirement.js";
import {
  challengeIdSchema,
  meResponse,
  passkeyAssertionBody,
  passkeyRegistrationResponse,
} from "./accounts.schema.js";
import type { AccountsRouteOptions } from "./auth.routes.js";
import { requestOrigin } from "./auth.routes.js";
import type { PasskeyRow } from "./passkeys.repository.js";
import {
  finishPasskeyRegistration,
  listPasskeys,
  removePasskey,
  signInWithPasskey,
  startPasskeyAssertion,
  startPasskeyRegistration,
} from "./passkeys.service.js";
import { presentMe } from "./presenters.js";
import { setSessionCookie } from "./session-cookie.js";
import { csrfTokenForSession } from "./sessions.service.js";
import { findUserById } from "./users.repository.js";

const passkeyResponse = z.object({
  id: z.string(),
  name: z.string(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
});

const passkeyName = z
  .string()
  .trim()
  .min(1, { error: "is required" })
  .max(64, { error: "must be at most 64 characters" });

function presentPasskey(row: PasskeyRow): z.infer<typeof passkeyResponse> {
  return { id: row.id, name: row.name, createdAt: row.created_at, lastUsedAt: row.last_used_at };
}

/** Options for the browser's WebAuthn call: passed through as the library made them. */
const optionsResponse = z.object({
  challengeId: z.string(),
  options: z.record(z.string(), z.unknown()),
});

/** The library's options object, typed as the plain JSON record the schema describes. */
function asOptions(challenge: { challengeId: string; options: object }): {
  challengeId: string;
  options: Record<string, unknown>;
} {
  return { challengeId: challenge.challengeId, options: { ...challenge.options } };
}

/**
 * Passkeys: `/me/passkeys*` to add (two steps: options, then the authenticator's answer),
 * list and remove the signed-in user's passkeys; `/auth/passkey/*` to sign in with one.
 */
export async function passkeyRoutes(
  app: FastifyInstance,
  { db, ctx }: AccountsRouteOptions,
): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const currentUser = async (userId: string) => {
    const user = await findUserById(db, userId);
    if (user === null) throw unauthenticated();
    return user;
  };
  // Adding a passkey is enrolling a second factor: allowed while REQUIRE_MFA holds the session
  // to enrolment, and (like TOTP) only with a recent proof of the password.
  const enrol = { beforeMfaEnrolment: true, stepUp: true as const };

  routes.get(
    "/me/passkeys",
    {
      config: { beforeMfaEnrolment: true },
      schema: { response: { 200: z.object({ passkeys: z.array(passkeyResponse) }) } },
    },
    async (request) => {
      const principal = requireSession(request);
      return { passkeys: (await listPasskeys(db, principal.userId)).map(presentPasskey) };
    },
  );

  routes.post(
    "/me/passkeys/options",
    { config: enrol, schema: { response: { 200: optionsResponse } } },
    async (request) => {
      const principal = requireSession(request);
      return asOptions(
        await startPasskeyRegistration(db, ctx, await currentUser(principal.userId)),
      );
    },
  );

  routes.post(
    "/me/passkeys",
    {
      config: enrol,
      schema: {
        body: z.strictObject({
          challengeId: challengeIdSchema,
          name: passkeyName,
          response: passkeyRegistrationResponse,
        }),
        response: { 201: z.object({ passkey: passkeyResponse }) },
      },
    },
    async (request, reply) => {
      const principal = requireSession(request);
      const row = await finishPasskeyRegistration(
        db,
        ctx,
        await currentUser(principal.userId),
        request.body,
        requestOrigin(request),
      );
      reply.status(201);
      return { passkey: presentPasskey(row) };
    },
  );

  routes.delete(
    "/me/passkeys/:id",
    {
      config: { stepUp: true as const },
      schema: { params: z.strictObject({ id: z.string().min(1).max(1366) }) },
    },
    async (request, reply) => {
      const principal = requireSession(request);
      await removePasskey(
        db,
        ctx,
        await currentUser(principal.userId),
        request.params.id,
        requestOrigin(request),
      );
      reply.status(204);
    },
  );

  // Before a session: the Origin check applies, the CSRF token cannot.
  const beforeSession = { csrf: "origin-only" as const };

  routes.post(
    "/auth/passkey/options",
    { config: beforeSession, schema: { response: { 200: optionsResponse } } },
    async (request) => asOptions(await startPasskeyAssertion(db, ctx, requestOrigin(request))),
  );

  routes.post(
    "/auth/passkey/login",
    {
      config: beforeSession,
      schema: {
        body: passkeyAssertionBody,
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
      const { user, token, session } = await signInWithPasskey(
        db,
        ctx,
        request.body,
        requestOrigin(request),
      );
      setSessionCookie(reply, ctx.config, token);
      return {
        user: presentMe(user),
        csrfToken: csrfTokenForSession(ctx.config.secretKey, session.id),
        mfaEnrolmentRequired: mustEnrolSecondFactor(ctx.config.requireMfa, user),
      };
    },
  );
}

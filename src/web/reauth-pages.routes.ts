import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { h } from "preact";
import { requestOrigin } from "../accounts/auth.routes.js";
import type { AccountsContext } from "../accounts/context.js";
import type { ReauthProof } from "../accounts/step-up.service.js";
import { reauthenticate } from "../accounts/step-up.service.js";
import { findUserById } from "../accounts/users.repository.js";
import type { Db } from "../db/schema.js";
import { AppError, unauthenticated } from "../lib/errors.js";
import { pageContext, sendPage } from "./pages.routes.js";
import { ReauthPage } from "./reauth.pages.js";
import { safeNextPath, setFlash } from "./web-context.js";

export interface ReauthPageOptions {
  db: Db;
  ctx: AccountsContext;
}

/** Longest password or code read from the form (the schemas' own limits). */
const PASSWORD_MAX = 1024;
const CODE_MAX = 64;

/**
 * `/reauth?next=…`: the page step-up sends a session to (see `stepUp` routes and
 * page-gates.ts). Confirming the password or a second factor renews the session's proof
 * through the same service as `POST /api/v1/auth/reauth` (throttled, audited), then goes back
 * to `next` — only ever a same-site path. Reachable during enforced two-factor enrolment.
 */
export async function reauthPages(
  app: FastifyInstance,
  { db, ctx }: ReauthPageOptions,
): Promise<void> {
  const config = { beforeMfaEnrolment: true };

  const signedInUser = async (request: FastifyRequest, reply: FastifyReply, next: string) => {
    const principal = request.principal;
    if (principal?.kind !== "session" || principal.sessionId === null) {
      void reply.redirect(`/login?next=${encodeURIComponent(next)}`, 303);
      return null;
    }
    const user = await findUserById(db, principal.userId);
    if (user === null) throw unauthenticated();
    return { principal: { ...principal, sessionId: principal.sessionId }, user };
  };
  const nextOf = (request: FastifyRequest): string =>
    safeNextPath((request.query as Record<string, unknown>).next);

  app.get("/reauth", { config }, async (request, reply) => {
    const next = nextOf(request);
    const found = await signedInUser(request, reply, next);
    if (found === null) return reply;
    return sendPage(
      reply,
      h(ReauthPage, {
        context: pageContext(request, reply, ctx),
        next,
        mfaEnabled: found.user.totp_enabled_at !== null,
        passkeyEnabled: found.user.passkey_enabled_at !== null,
      }),
    );
  });

  app.post("/reauth", { config }, async (request, reply) => {
    const next = nextOf(request);
    const found = await signedInUser(request, reply, next);
    if (found === null) return reply;
    const body = (request.body ?? {}) as Record<string, unknown>;
    const password = typeof body.password === "string" ? body.password : "";
    const totp = typeof body.totp === "string" ? body.totp.trim() : "";
    const render = (error: string, status: number) =>
      sendPage(
        reply,
        h(ReauthPage, {
          context: pageContext(request, reply, ctx),
          next,
          mfaEnabled: found.user.totp_enabled_at !== null,
          passkeyEnabled: found.user.passkey_enabled_at !== null,
          error,
        }),
        status,
      );
    let proof: ReauthProof;
    if (password !== "" && password.length <= PASSWORD_MAX) proof = { password };
    else if (password === "" && totp !== "" && totp.length <= CODE_MAX) proof = { totp };
    else return render("Enter your password.", 400);
    try {
      await reauthenticate(
        db,
        ctx,
        { userId: found.principal.userId, sessionId: found.principal.sessionId, proof },
        requestOrigin(request),
      );
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
      const message =
        error.status === 429
          ? "Too many attempts. Try again later."
          : "That password or code is not right.";
      return render(message, error.status);
    }
    setFlash(
      reply,
      ctx.config.secretKey,
      { kind: "success", text: "Confirmed. You can go on." },
      ctx.config.publicUrlIsHttps,
    );
    return reply.redirect(next, 303);
  });
}

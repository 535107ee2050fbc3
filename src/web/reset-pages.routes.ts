import type { FastifyInstance } from "fastify";
import { h } from "preact";
import { passwordResetBody, passwordResetConfirmBody } from "../accounts/accounts.schema.js";
import { requestOrigin } from "../accounts/auth.routes.js";
import type { AccountsContext } from "../accounts/context.js";
import { legacyLinkToken, mailedLink } from "../accounts/mailed-link.js";
import {
  confirmPasswordReset,
  RESET_LINK_MINUTES,
  requestPasswordReset,
} from "../accounts/passwords.service.js";
import { clearSessionCookie } from "../accounts/session-cookie.js";
import type { Db } from "../db/schema.js";
import { AppError } from "../lib/errors.js";
import { pageContext, sendPage } from "./pages.routes.js";
import {
  ForgotPasswordPage,
  InvalidResetLinkPage,
  ResetMailSentPage,
  ResetPasswordPage,
  ResetUnavailablePage,
} from "./reset.pages.js";
import { setFlash } from "./web-context.js";

/**
 * What the reset pages need. Read on every request, not at registration, so an option may
 * be a getter resolved later (the tests build the context after the app).
 */
export interface ResetPageOptions {
  db: Db;
  ctx: AccountsContext;
}

/** The longest token we look at; ours are far shorter (the API's schema says the same). */
const TOKEN_MAX_LENGTH = 128;

function field(input: unknown, name: string): string {
  const value = (input ?? {}) as Record<string, unknown>;
  return typeof value[name] === "string" ? value[name] : "";
}

/**
 * Forgot and reset password, through the same services as `/api/v1/auth/password-reset*`.
 * Both forms are used without a session, so they are origin-checked rather than token-checked
 * (`csrf: "origin-only"`, as the API routes): a cross-site post is still refused.
 */
export async function resetPages(app: FastifyInstance, options: ResetPageOptions): Promise<void> {
  const beforeSession = { csrf: "origin-only" as const };

  app.get("/forgot-password", async (request, reply) =>
    sendPage(reply, h(ForgotPasswordPage, { context: pageContext(request, reply, options.ctx) })),
  );

  app.post("/forgot-password", { config: beforeSession }, async (request, reply) => {
    const context = pageContext(request, reply, options.ctx);
    const email = field(request.body, "email").slice(0, 254);
    const parsed = passwordResetBody.safeParse({ email });
    if (!parsed.success)
      return sendPage(
        reply,
        h(ForgotPasswordPage, { context, email, error: "Enter your e-mail address." }),
        400,
      );
    try {
      await requestPasswordReset(
        options.db,
        options.ctx,
        parsed.data.email,
        requestOrigin(request),
      );
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      if (error.status === 429) {
        for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
        const seconds = Number(error.headers["retry-after"]);
        const retryAfterMinutes = Number.isFinite(seconds) ? Math.ceil(seconds / 60) : undefined;
        return sendPage(
          reply,
          h(ResetUnavailablePage, { context, reason: "throttled", retryAfterMinutes }),
          429,
        );
      }
      if (error.code === "mail-unavailable")
        return sendPage(reply, h(ResetUnavailablePage, { context, reason: "no-mail" }), 503);
      throw error;
    }
    // The same page whether or not the address has an account (the service sends mail later).
    return sendPage(reply, h(ResetMailSentPage, { context, minutes: RESET_LINK_MINUTES }));
  });

  app.get("/reset-password", async (request, reply) => {
    const context = pageContext(request, reply, options.ctx);
    // Links mailed by earlier versions carried the token in the query: move it to the fragment.
    const legacy = legacyLinkToken(request.query);
    if (legacy.kind === "malformed")
      return sendPage(reply, h(InvalidResetLinkPage, { context }), 400);
    if (legacy.kind === "token")
      return reply.redirect(mailedLink("", "/reset-password", legacy.token), 303);
    return sendPage(reply, h(ResetPasswordPage, { context, token: "" }));
  });

  app.post("/reset-password", { config: beforeSession }, async (request, reply) => {
    const context = pageContext(request, reply, options.ctx);
    const token = field(request.body, "token");
    const password = field(request.body, "password");
    const parsed = passwordResetConfirmBody.safeParse({ token, password });
    if (!parsed.success) {
      if (token === "" || token.length > TOKEN_MAX_LENGTH)
        return sendPage(reply, h(InvalidResetLinkPage, { context }), 400);
      return sendPage(
        reply,
        h(ResetPasswordPage, { context, token, error: "Enter a new password." }),
        400,
      );
    }
    try {
      await confirmPasswordReset(
        options.db,
        options.ctx,
        parsed.data.token,
        parsed.data.password,
        requestOrigin(request),
      );
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      if (error.code === "invalid-token")
        return sendPage(reply, h(InvalidResetLinkPage, { context }), 400);
      // The password policy's reasons (never the password itself); the link stays usable.
      const reason = error.errors?.map((e) => e.message).join(" ") ?? error.detail ?? error.title;
      return sendPage(reply, h(ResetPasswordPage, { context, token, error: reason }), error.status);
    }
    // Every session of the account ended; drop this browser's cookie too, as the API does.
    clearSessionCookie(reply, options.ctx.config);
    setFlash(
      reply,
      options.ctx.config.secretKey,
      { kind: "success", text: "Password changed. Sign in." },
      options.ctx.config.publicUrlIsHttps,
    );
    return reply.redirect("/login", 303);
  });
}

import formbody from "@fastify/formbody";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { VNode } from "preact";
import { h } from "preact";
import { loginBody, registerBody } from "../accounts/accounts.schema.js";
import { requestOrigin } from "../accounts/auth.routes.js";
import type { AccountsContext } from "../accounts/context.js";
import { login } from "../accounts/login.service.js";
import { legacyLinkToken, mailedLink } from "../accounts/mailed-link.js";
import { confirmRegistration, registerUser } from "../accounts/registration.service.js";
import { clearSessionCookie, setSessionCookie } from "../accounts/session-cookie.js";
import { deleteSession } from "../accounts/sessions.repository.js";
import { csrfTokenForSession } from "../accounts/sessions.service.js";
import type { Db } from "../db/schema.js";
import { AppError } from "../lib/errors.js";
import { adminPages } from "./admin-pages.routes.js";
import {
  ConfirmRegistrationPage,
  LoginPage,
  RegisterPage,
  RegisterSentPage,
} from "./auth.pages.js";
import { fieldErrors } from "./components.js";
import { DocsPage } from "./docs.pages.js";
import { registerPageSessionGates } from "./page-gates.js";
import { reauthPages } from "./reauth-pages.routes.js";
import { renderDocument } from "./render.js";
import { resetPages } from "./reset-pages.routes.js";
import { settingsPages } from "./settings-pages.routes.js";
import { sharePages } from "./share-pages.routes.js";
import { vaultPages } from "./vault-pages.routes.js";
import type { PageContext } from "./web-context.js";
import { safeNextPath, setFlash, takeFlash } from "./web-context.js";

export interface PageRouteOptions {
  db: Db;
  ctx: AccountsContext;
  /** The OpenAPI document, rendered at /docs. */
  openApiDocument: () => Record<string, unknown>;
}

/** Sends a page as HTML. Pages are never cached (they may show secrets or personal data). */
export function sendPage<P>(reply: FastifyReply, page: VNode<P>, status = 200): FastifyReply {
  return reply.status(status).type("text/html; charset=utf-8").send(renderDocument(page));
}

/** The page context of a request: who is signed in, their CSRF token, the flash message. */
export function pageContext(
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: AccountsContext,
): PageContext {
  const principal = request.principal?.kind === "session" ? request.principal : null;
  return {
    user: principal === null ? null : { username: principal.username, role: principal.role },
    csrfToken: principal?.sessionId
      ? csrfTokenForSession(ctx.config.secretKey, principal.sessionId)
      : "",
    flash: takeFlash(request, reply, ctx.config.secretKey, ctx.config.publicUrlIsHttps),
  };
}

/** Where the request came from, with its security-event logger (see auth.routes.ts). */
const origin = requestOrigin;

/** The sign-in form's `passkey` field: the JSON /static/passkeys.js put there, or null. */
function parsePasskeyField(text: string): unknown {
  if (text.length > 64 * 1024) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

/**
 * The server-rendered pages. HTML forms post `application/x-www-form-urlencoded`, accepted in
 * this scope only (the API stays JSON-only); every form is CSRF-protected by the same hook as
 * the API (the `_csrf` field), and forms before a session get the Origin check.
 */
export async function pageRoutes(
  app: FastifyInstance,
  { db, ctx, openApiDocument }: PageRouteOptions,
): Promise<void> {
  await app.register(formbody, { bodyLimit: 256 * 1024 });
  // Enforced two-factor and step-up re-authentication, as on the API (page-gates.ts).
  registerPageSessionGates(app, ctx);
  const beforeSession = { csrf: "origin-only" as const };
  const registrationOpen = ctx.config.registration === "open";

  app.get("/login", async (request, reply) => {
    const next = safeNextPath((request.query as Record<string, unknown>).next);
    if (request.principal?.kind === "session") return reply.redirect(next, 303);
    return sendPage(
      reply,
      h(LoginPage, { context: pageContext(request, reply, ctx), next, registrationOpen }),
    );
  });

  app.post("/login", { config: beforeSession }, async (request, reply) => {
    const next = safeNextPath((request.query as Record<string, unknown>).next);
    const body = (request.body ?? {}) as Record<string, unknown>;
    const context = pageContext(request, reply, ctx);
    const parsed = loginBody.safeParse({
      username: body.username,
      password: body.password,
      ...(typeof body.totp === "string" && body.totp !== "" ? { totp: body.totp } : {}),
      ...(typeof body.passkey === "string" && body.passkey !== ""
        ? { passkey: parsePasskeyField(body.passkey) }
        : {}),
    });
    const username = typeof body.username === "string" ? body.username.slice(0, 254) : "";
    if (!parsed.success)
      return sendPage(
        reply,
        h(LoginPage, {
          context,
          next,
          username,
          error: "Enter your username and password.",
          registrationOpen,
        }),
        400,
      );
    try {
      const { token } = await login(db, ctx, parsed.data, origin(request));
      setSessionCookie(reply, ctx.config, token);
      return reply.redirect(next, 303);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
      const askTotp = error.code === "mfa-required";
      const message = askTotp
        ? "Enter your password again with a code from your authenticator app."
        : (error.detail ?? error.title);
      return sendPage(
        reply,
        h(LoginPage, { context, next, username, error: message, askTotp, registrationOpen }),
        error.status,
      );
    }
  });

  // Signing out stays possible while two-factor enrolment is pending.
  app.post("/logout", { config: { beforeMfaEnrolment: true } }, async (request, reply) => {
    if (request.principal?.kind === "session" && request.principal.sessionId !== null)
      await deleteSession(db, request.principal.sessionId);
    clearSessionCookie(reply, ctx.config);
    reply.header("clear-site-data", '"cache", "storage"');
    return reply.redirect("/login", 303);
  });

  if (registrationOpen) {
    app.get("/register", async (request, reply) =>
      sendPage(reply, h(RegisterPage, { context: pageContext(request, reply, ctx) })),
    );
    app.post("/register", { config: beforeSession }, async (request, reply) => {
      const body = (request.body ?? {}) as Record<string, unknown>;
      const context = pageContext(request, reply, ctx);
      const values = {
        username: typeof body.username === "string" ? body.username : "",
        email: typeof body.email === "string" ? body.email : "",
      };
      const parsed = registerBody.safeParse({
        username: body.username,
        email: body.email,
        password: body.password,
      });
      if (!parsed.success)
        return sendPage(
          reply,
          h(RegisterPage, { context, values, errors: fieldErrors(parsed.error.issues) }),
          400,
        );
      try {
        await registerUser(db, ctx, parsed.data, origin(request));
      } catch (error) {
        if (!(error instanceof AppError) || error.status >= 500 || error.status === 429)
          throw error;
        const errors = error.errors
          ? Object.fromEntries(error.errors.map((e) => [e.path.replace(/^body\./, ""), e.message]))
          : { username: error.detail ?? error.title };
        return sendPage(reply, h(RegisterPage, { context, values, errors }), error.status);
      }
      return sendPage(reply, h(RegisterSentPage, { context }));
    });
  }

  app.get("/register/confirm", async (request, reply) => {
    // Links mailed by earlier versions carried the token in the query: move it to the fragment.
    const legacy = legacyLinkToken(request.query);
    if (legacy.kind === "token")
      return reply.redirect(mailedLink("", "/register/confirm", legacy.token), 303);
    return sendPage(
      reply,
      h(ConfirmRegistrationPage, { context: pageContext(request, reply, ctx), token: "" }),
    );
  });
  app.post("/register/confirm", { config: beforeSession }, async (request, reply) => {
    const token = String(((request.body ?? {}) as Record<string, unknown>).token ?? "").slice(
      0,
      128,
    );
    try {
      await confirmRegistration(db, ctx, token, origin(request));
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      return sendPage(
        reply,
        h(ConfirmRegistrationPage, {
          context: pageContext(request, reply, ctx),
          token,
          error: error.detail ?? error.title,
        }),
        error.status,
      );
    }
    setFlash(
      reply,
      ctx.config.secretKey,
      { kind: "success", text: "Your account is ready. Sign in." },
      ctx.config.publicUrlIsHttps,
    );
    return reply.redirect("/login", 303);
  });

  app.get("/docs", async (request, reply) =>
    sendPage(
      reply,
      h(DocsPage, { context: pageContext(request, reply, ctx), document: openApiDocument() }),
    ),
  );

  await app.register(vaultPages, { db, ctx });
  await app.register(settingsPages, { db, ctx });
  await app.register(adminPages, { db, ctx });
  await app.register(resetPages, { db, ctx });
  await app.register(reauthPages, { db, ctx });
  await app.register(sharePages, { db, ctx });
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { VNode } from "preact";
import { h } from "preact";
import {
  changePasswordBody,
  sessionIdParams,
  totpConfirmBody,
  totpDisableBody,
  updateMeBody,
} from "../accounts/accounts.schema.js";
import { requestOrigin } from "../accounts/auth.routes.js";
import type { AccountsContext } from "../accounts/context.js";
import { confirmTotpEnrolment, disableTotp, startTotpEnrolment } from "../accounts/mfa.service.js";
import { listPasskeys, removePasskey } from "../accounts/passkeys.service.js";
import { changePassword } from "../accounts/passwords.service.js";
import { presentMe, presentSession } from "../accounts/presenters.js";
import { changeEmail, revokeOtherSessions, revokeOwnSession } from "../accounts/profile.service.js";
import { setSessionCookie } from "../accounts/session-cookie.js";
import { findSession, listUserSessions } from "../accounts/sessions.repository.js";
import { csrfTokenForSession } from "../accounts/sessions.service.js";
import { findUserById } from "../accounts/users.repository.js";
import type { Db } from "../db/schema.js";
import type { Principal } from "../http/authentication.js";
import { AppError, notFound as notFoundError, unauthenticated } from "../lib/errors.js";
import { authorize, decide } from "../policy/policy.js";
import { createTokenBody, tokenIdParams } from "../tokens/tokens.schema.js";
import { createApiToken, listApiTokens, revokeApiToken } from "../tokens/tokens.service.js";
import { listVaults } from "../vaults/vaults.service.js";
import { fieldErrors } from "./components.js";
import { pageContext, sendPage } from "./pages.routes.js";
import type { SettingsPageProps, SettingsView, TokenView } from "./settings.pages.js";
import { RecoveryCodesPage, SettingsPage, TotpEnrolmentPage } from "./settings.pages.js";
import type { PageContext } from "./web-context.js";
import { setFlash } from "./web-context.js";

export interface SettingsPageOptions {
  db: Db;
  ctx: AccountsContext;
}

/** A browser session's principal: settings are never reachable with an API token. */
type SessionPrincipal = Principal & { sessionId: string };

const SETTINGS = "/settings";
/** Route marks for the session gates (page-gates.ts). */
const ENROLMENT = { beforeMfaEnrolment: true } as const;
const STEP_UP = { stepUp: SETTINGS } as const;

/** The signed-in browser user, or a redirect to sign in and come back to the settings. */
function signedIn(request: FastifyRequest, reply: FastifyReply): SessionPrincipal | null {
  const principal = request.principal;
  if (principal?.kind === "session" && principal.sessionId !== null)
    return { ...principal, sessionId: principal.sessionId };
  // Always back to /settings: the POST-only action URLs have no page to come back to.
  void reply.redirect(`/login?next=${encodeURIComponent(SETTINGS)}`, 303);
  return null;
}

/** The string fields of a posted form (anything else — arrays, objects — is dropped). */
function form(request: FastifyRequest): Record<string, string> {
  const body = (request.body ?? {}) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(body).filter(([, v]) => typeof v === "string"),
  ) as Record<string, string>;
}

/** Where the request came from, with its security-event logger (see auth.routes.ts). */
const origin = requestOrigin;

/**
 * A service's refusal as form errors: its per-field errors (`body.x.y` → `x`), else its
 * detail on `field`. Anything that is not a client error is rethrown for the error page.
 */
function refusal(error: unknown, reply: FastifyReply, field: string): Record<string, string> {
  if (!(error instanceof AppError) || error.status >= 500) throw error;
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value);
  const errors: Record<string, string> = {};
  for (const item of error.errors ?? []) {
    const key = item.path.replace(/^body\./, "").split(".")[0] ?? field;
    errors[key === "scopes" ? "vault" : key] ??= item.message;
  }
  if (Object.keys(errors).length === 0) errors[field] = error.detail ?? error.title;
  return errors;
}

/** A token-form zod failure as field errors: a scope's problem goes to its own control. */
function tokenFormErrors(
  issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
): Record<string, string> {
  const errors = fieldErrors(
    issues.map((issue) =>
      issue.path[0] === "scopes"
        ? { ...issue, path: [issue.path[2] === "permission" ? "permission" : "vault"] }
        : issue,
    ),
  );
  if (errors.expiresInDays !== undefined) errors.expiresInDays = "must be a whole number, 1–365";
  return errors;
}

/**
 * `/settings*`: the signed-in user's profile, password, two-factor, sessions and API tokens.
 * Every action calls the same services with the same zod schemas as `/api/v1/me*`, and is
 * CSRF-protected by the app-wide hook (the `_csrf` field). It parses forms with the
 * `@fastify/formbody` parser its parent scope registers.
 */
export async function settingsPages(
  app: FastifyInstance,
  { db, ctx }: SettingsPageOptions,
): Promise<void> {
  const flash = (reply: FastifyReply, text: string): void =>
    setFlash(reply, ctx.config.secretKey, { kind: "success", text }, ctx.config.publicUrlIsHttps);

  const loadView = async (actor: SessionPrincipal): Promise<SettingsView> => {
    const user = await findUserById(db, actor.userId);
    if (user === null) throw unauthenticated();
    const now = ctx.now().toISOString();
    const me = presentMe(user);
    const sessions = (await listUserSessions(db, actor.userId, now)).map((session) =>
      presentSession(session, actor.sessionId),
    );
    const mayManageTokens = decide(actor, "token.manage").allowed;
    const tokens: TokenView[] | null = mayManageTokens
      ? (await listApiTokens(db, actor.userId)).map((token) => ({
          id: token.id,
          name: token.name,
          scopes: token.scopes,
          expiresAt: token.expiresAt,
          lastUsedAt: token.lastUsedAt,
          status: token.revoked ? "revoked" : token.expiresAt <= now ? "expired" : "active",
        }))
      : null;
    const passkeys = (await listPasskeys(db, actor.userId)).map((passkey) => ({
      id: passkey.id,
      name: passkey.name,
      createdAt: passkey.created_at,
      lastUsedAt: passkey.last_used_at,
    }));
    return {
      profile: {
        username: me.username,
        email: me.email,
        role: me.role,
        mfaEnabled: me.mfaEnabled,
        passkeyEnabled: me.passkeyEnabled,
        lastLoginAt: me.lastLoginAt,
        lastLoginAddress: me.lastLoginAddress,
        failedLoginsBeforeLastLogin: me.failedLoginsBeforeLastLogin,
        failedLoginsSinceLastLogin: me.failedLoginsSinceLastLogin,
      },
      sessions,
      passkeys,
      tokens,
      vaults: mayManageTokens ? (await listVaults(db, actor)).map((vault) => vault.slug) : [],
      mfaEnrolmentRequired: actor.mfaEnrolmentRequired === true,
    };
  };

  const renderSettings = async (
    request: FastifyRequest,
    reply: FastifyReply,
    actor: SessionPrincipal,
    options: Omit<SettingsPageProps, "context" | "view"> & { status?: number } = {},
  ): Promise<FastifyReply> => {
    const { status = 200, ...rest } = options;
    const view = await loadView(actor);
    return sendPage(
      reply,
      h(SettingsPage, { context: pageContext(request, reply, ctx), view, ...rest }),
      status,
    );
  };

  /** A page with a secret on it, shown once: never stored by a browser or a proxy. */
  const sendOnce = <P>(reply: FastifyReply, page: VNode<P>, status = 200): FastifyReply => {
    reply.header("cache-control", "no-store");
    return sendPage(reply, page, status);
  };

  app.get(SETTINGS, { config: ENROLMENT }, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    return renderSettings(request, reply, actor);
  });

  app.post(`${SETTINGS}/email`, { config: STEP_UP }, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const values = { email: (form(request).email ?? "").slice(0, 512) };
    const parsed = updateMeBody.safeParse({ email: values.email.trim() });
    if (!parsed.success)
      return renderSettings(request, reply, actor, {
        status: 400,
        errors: fieldErrors(parsed.error.issues),
        values,
      });
    try {
      await changeEmail(
        db,
        ctx,
        { userId: actor.userId, email: parsed.data.email },
        origin(request),
      );
    } catch (error) {
      const errors = refusal(error, reply, "email");
      return renderSettings(request, reply, actor, {
        status: (error as AppError).status,
        errors,
        values,
      });
    }
    flash(reply, "E-mail address changed. We told your previous address.");
    return reply.redirect(SETTINGS, 303);
  });

  // Neither password is ever put back into a form: a re-rendered page has empty fields.
  app.post(`${SETTINGS}/password`, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const values = form(request);
    const parsed = changePasswordBody.safeParse({
      currentPassword: values.currentPassword ?? "",
      newPassword: values.newPassword ?? "",
    });
    if (!parsed.success)
      return renderSettings(request, reply, actor, {
        status: 400,
        errors: fieldErrors(parsed.error.issues),
      });
    const session = await findSession(db, actor.sessionId);
    if (session === null) throw unauthenticated();
    try {
      const rotated = await changePassword(
        db,
        ctx,
        { userId: actor.userId, session, ...parsed.data },
        origin(request),
      );
      setSessionCookie(reply, ctx.config, rotated.token);
    } catch (error) {
      const errors = refusal(error, reply, "currentPassword");
      return renderSettings(request, reply, actor, {
        status: (error as AppError).status,
        errors,
      });
    }
    flash(reply, "Password changed; other sessions ended.");
    return reply.redirect(SETTINGS, 303);
  });

  const enrolment = { config: { ...ENROLMENT, ...STEP_UP } };
  app.post(`${SETTINGS}/mfa/start`, enrolment, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    try {
      const enrolment = await startTotpEnrolment(db, ctx, actor.userId);
      return sendOnce(
        reply,
        h(TotpEnrolmentPage, {
          context: pageContext(request, reply, ctx),
          enrolment: { qrCode: enrolment.qrCode, secret: enrolment.secret },
        }),
      );
    } catch (error) {
      const errors = refusal(error, reply, "mfa");
      setFlash(
        reply,
        ctx.config.secretKey,
        { kind: "error", text: errors.mfa ?? "Two-factor authentication could not be set up." },
        ctx.config.publicUrlIsHttps,
      );
      return reply.redirect(SETTINGS, 303);
    }
  });

  app.post(`${SETTINGS}/mfa/confirm`, enrolment, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const renderError = (message: string, status: number) =>
      sendPage(
        reply,
        h(TotpEnrolmentPage, { context: pageContext(request, reply, ctx), error: message }),
        status,
      );
    const parsed = totpConfirmBody.safeParse({ code: form(request).code ?? "" });
    if (!parsed.success) return renderError("Enter the 6-digit code from your app.", 400);
    const session = await findSession(db, actor.sessionId);
    if (session === null) throw unauthenticated();
    try {
      const result = await confirmTotpEnrolment(
        db,
        ctx,
        { userId: actor.userId, session, code: parsed.data.code },
        origin(request),
      );
      setSessionCookie(reply, ctx.config, result.token);
      // The session was replaced: this page's forms need the new session's CSRF token.
      const context: PageContext = {
        ...pageContext(request, reply, ctx),
        csrfToken: csrfTokenForSession(ctx.config.secretKey, result.session.id),
      };
      return sendOnce(reply, h(RecoveryCodesPage, { context, codes: result.recoveryCodes }));
    } catch (error) {
      const errors = refusal(error, reply, "code");
      const status = (error as AppError).status;
      if (status === 409) {
        setFlash(
          reply,
          ctx.config.secretKey,
          { kind: "error", text: errors.code ?? "Start again." },
          ctx.config.publicUrlIsHttps,
        );
        return reply.redirect(SETTINGS, 303);
      }
      const message =
        (error as AppError).code === "mfa-required"
          ? "That code is not right. Enter the current code from your app."
          : (errors.code ?? "That code is not right.");
      return renderError(message, status);
    }
  });

  app.post(`${SETTINGS}/mfa/remove`, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const parsed = totpDisableBody.safeParse({ password: form(request).password ?? "" });
    if (!parsed.success)
      return renderSettings(request, reply, actor, {
        status: 400,
        errors: fieldErrors(parsed.error.issues),
      });
    try {
      await disableTotp(
        db,
        ctx,
        { userId: actor.userId, password: parsed.data.password },
        origin(request),
      );
    } catch (error) {
      const errors = refusal(error, reply, "password");
      // The policy's wording names the API field; on the page, say it plainly.
      if (errors.password === "The current password is wrong.")
        errors.password = "The password is wrong.";
      return renderSettings(request, reply, actor, {
        status: (error as AppError).status,
        errors,
      });
    }
    flash(reply, "Two-factor authentication removed.");
    return reply.redirect(SETTINGS, 303);
  });

  app.post(`${SETTINGS}/sessions/revoke`, { config: STEP_UP }, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const parsed = sessionIdParams.safeParse({ id: form(request).id ?? "" });
    const notFound = () =>
      renderSettings(request, reply, actor, {
        status: 404,
        errors: { sessions: "There is no such session." },
      });
    if (!parsed.success) return notFound();
    if (parsed.data.id === actor.sessionId)
      return renderSettings(request, reply, actor, {
        status: 400,
        errors: { sessions: "That is this device's session: use Sign out instead." },
      });
    // Only the caller's own sessions: another user's id is simply not found.
    if (!(await revokeOwnSession(db, ctx, actor, parsed.data.id, origin(request))))
      return notFound();
    flash(reply, "That session is signed out.");
    return reply.redirect(SETTINGS, 303);
  });

  app.post(`${SETTINGS}/passkeys/remove`, { config: STEP_UP }, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const id = form(request).id ?? "";
    const user = await findUserById(db, actor.userId);
    if (user === null) throw unauthenticated();
    try {
      if (id === "" || id.length > 1366) throw notFoundError("There is no such passkey.");
      await removePasskey(db, ctx, user, id, origin(request));
    } catch (error) {
      const errors = refusal(error, reply, "passkeys");
      return renderSettings(request, reply, actor, {
        status: error instanceof AppError ? error.status : 400,
        errors,
      });
    }
    flash(reply, "The passkey is removed.");
    return reply.redirect(SETTINGS, 303);
  });

  app.post(`${SETTINGS}/sessions/revoke-others`, { config: STEP_UP }, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const count = await revokeOtherSessions(
      db,
      ctx,
      { ...actor, keepSessionId: actor.sessionId },
      origin(request),
    );
    flash(reply, `Signed out everywhere else (${count} ${count === 1 ? "session" : "sessions"}).`);
    return reply.redirect(SETTINGS, 303);
  });

  app.post(`${SETTINGS}/tokens`, { config: STEP_UP }, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    authorize(actor, "token.manage");
    const fields = form(request);
    const values = {
      name: (fields.name ?? "").slice(0, 512),
      vault: (fields.vault ?? "").slice(0, 128),
      permission: fields.permission === "write" ? "write" : "read",
      expiresInDays: (fields.expiresInDays ?? "").slice(0, 16),
    };
    const days = /^\s*\d{1,4}\s*$/.test(values.expiresInDays)
      ? Number(values.expiresInDays)
      : Number.NaN;
    const parsed = createTokenBody.safeParse({
      name: values.name,
      scopes: [{ vault: values.vault, permission: fields.permission ?? "" }],
      expiresInDays: days,
    });
    if (!parsed.success)
      return renderSettings(request, reply, actor, {
        status: 400,
        errors: tokenFormErrors(parsed.error.issues),
        values,
      });
    try {
      const { token, apiToken } = await createApiToken(db, {
        ...parsed.data,
        userId: actor.userId,
        username: actor.username,
        now: ctx.now(),
        address: request.ip,
      });
      // The token text is on this response and nowhere else, ever.
      reply.header("cache-control", "no-store");
      return renderSettings(request, reply, actor, {
        status: 201,
        createdToken: { name: apiToken.name, token },
      });
    } catch (error) {
      const errors = refusal(error, reply, "name");
      return renderSettings(request, reply, actor, {
        status: (error as AppError).status,
        errors,
        values,
      });
    }
  });

  app.post(`${SETTINGS}/tokens/revoke`, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    authorize(actor, "token.manage");
    const parsed = tokenIdParams.safeParse({ id: form(request).id ?? "" });
    const notFound = () =>
      renderSettings(request, reply, actor, {
        status: 404,
        errors: { tokens: "There is no such API token." },
      });
    if (!parsed.success) return notFound();
    try {
      await revokeApiToken(db, {
        userId: actor.userId,
        username: actor.username,
        tokenId: parsed.data.id,
        now: ctx.now(),
        address: request.ip,
      });
    } catch (error) {
      if (error instanceof AppError && error.status === 404) return notFound();
      throw error;
    }
    flash(reply, "API token revoked.");
    return reply.redirect(SETTINGS, 303);
  });
}

import type {} from "@fastify/cookie";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { Db } from "../db/schema.js";
import type { Authenticator } from "../http/authentication.js";
import { mustEnrolSecondFactor } from "../policy/mfa-requirement.js";
import type { AccountsConfig } from "./context.js";
import { resolveSession, sessionCookieName } from "./sessions.service.js";

/** Sets the session cookie: HttpOnly, SameSite=Strict, Path=/, no Domain, Secure over https. */
export function setSessionCookie(
  reply: FastifyReply,
  config: Pick<AccountsConfig, "publicUrlIsHttps">,
  token: string,
): void {
  reply.setCookie(sessionCookieName(config.publicUrlIsHttps), token, {
    httpOnly: true,
    sameSite: "strict",
    path: "/",
    secure: config.publicUrlIsHttps,
  });
}

/** Expires the session cookie in the browser. */
export function clearSessionCookie(
  reply: FastifyReply,
  config: Pick<AccountsConfig, "publicUrlIsHttps">,
): void {
  reply.clearCookie(sessionCookieName(config.publicUrlIsHttps), {
    httpOnly: true,
    sameSite: "strict",
    path: "/",
    secure: config.publicUrlIsHttps,
  });
}

/** The session cookie's token, if the request carries one. */
export function readSessionCookie(
  request: FastifyRequest,
  config: Pick<AccountsConfig, "publicUrlIsHttps">,
): string | null {
  const value = request.cookies[sessionCookieName(config.publicUrlIsHttps)];
  return typeof value === "string" && value !== "" ? value : null;
}

/**
 * The authenticator for browser sessions: a cookie that names a live session of an enabled
 * user. An unknown, expired or revoked cookie authenticates nobody and is cleared. The
 * principal carries when the session last proved a credential (step-up) and whether
 * `REQUIRE_MFA` still holds it to enrolment.
 */
export function sessionAuthenticator(
  db: Db,
  config: Pick<AccountsConfig, "publicUrlIsHttps" | "session" | "requireMfa">,
  now: () => Date,
): Authenticator {
  return async (request, reply) => {
    const token = readSessionCookie(request, config);
    if (token === null) return null;
    const resolved = await resolveSession(db, config, token, now());
    if (resolved === null) {
      clearSessionCookie(reply, config);
      return null;
    }
    return {
      kind: "session",
      userId: resolved.user.id,
      username: resolved.user.username,
      role: resolved.user.role,
      sessionId: resolved.session.id,
      tokenId: null,
      scopes: null,
      provenAt: resolved.session.reauth_at,
      mfaEnrolmentRequired: mustEnrolSecondFactor(config.requireMfa, resolved.user),
    };
  };
}

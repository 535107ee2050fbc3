import type { FastifyReply, FastifyRequest } from "fastify";
import { macToken, verifyMacToken } from "../crypto/tokens.js";
import type { Principal } from "../http/authentication.js";
import type { SecretBytes } from "../lib/secret-bytes.js";

/** What every page needs to know about the request. */
export interface PageContext {
  /** The signed-in user, or null. */
  user: { username: string; role: Principal["role"] } | null;
  /** The session's CSRF token for forms; empty when signed out (those forms are origin-checked). */
  csrfToken: string;
  /** A one-time message from the previous action. */
  flash: Flash | null;
}

export interface Flash {
  kind: "success" | "error";
  text: string;
}

/**
 * The flash cookie's name: `__Host-` over https, so that the browser refuses it unless it is
 * Secure, host-only and Path=/ — a sibling subdomain or a plain-http page cannot plant or
 * shadow it. Plain over http in development, where browsers refuse `__Host-` cookies.
 */
export function flashCookieName(https: boolean): string {
  return https ? "__Host-strongroom_flash" : "strongroom_flash";
}

/**
 * Flash messages travel in a short-lived cookie, MACed with SECRET_KEY so that nobody can
 * plant a message ("your account is compromised, go to …") in someone's browser. `secure`
 * is whether PUBLIC_URL is https: it makes the cookie Secure and `__Host-` prefixed.
 */
export function setFlash(
  reply: FastifyReply,
  secretKey: SecretBytes,
  flash: Flash,
  secure: boolean,
): void {
  const payload = Buffer.from(JSON.stringify(flash), "utf8").toString("base64url");
  reply.setCookie(flashCookieName(secure), `${payload}.${macToken(secretKey, "flash", payload)}`, {
    httpOnly: true,
    sameSite: "strict",
    path: "/",
    secure,
    maxAge: 60,
  });
}

/** Reads and clears the flash message, if a genuine one is present. */
export function takeFlash(
  request: FastifyRequest,
  reply: FastifyReply,
  secretKey: SecretBytes,
  secure: boolean,
): Flash | null {
  const name = flashCookieName(secure);
  const raw = request.cookies[name];
  if (typeof raw !== "string" || raw === "") return null;
  reply.clearCookie(name, { path: "/", httpOnly: true, sameSite: "strict", secure });
  const [payload, mac] = raw.split(".");
  if (
    payload === undefined ||
    mac === undefined ||
    !verifyMacToken(secretKey, "flash", payload, mac)
  )
    return null;
  try {
    const parsed = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as Partial<Flash>;
    if ((parsed.kind === "success" || parsed.kind === "error") && typeof parsed.text === "string")
      return { kind: parsed.kind, text: parsed.text.slice(0, 300) };
  } catch {
    // A malformed cookie is ignored.
  }
  return null;
}

/**
 * Where to go after a form: only a same-site relative path. Anything that a browser could
 * read as another origin — `//evil.example`, `/\evil.example`, `https://…`, control
 * characters — falls back to `/`.
 */
export function safeNextPath(next: unknown): string {
  if (typeof next !== "string" || next.length === 0 || next.length > 512) return "/";
  if (!next.startsWith("/") || next.startsWith("//") || next.includes("\\")) return "/";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(next)) return "/";
  return next;
}

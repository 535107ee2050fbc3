/**
 * The links mailed for a password reset or a sign-up carry their single-use token in the URL's
 * fragment (`/reset-password#token=…`), which a browser never sends to a server: it stays out
 * of request lines, proxy and access logs, and `Referer` headers (ASVS 14.2.1). The page's
 * same-origin script copies it into the form, which posts it in the body.
 */
export function mailedLink(publicUrl: string, path: string, token: string): string {
  return `${publicUrl}${path}#${new URLSearchParams({ token }).toString()}`;
}

/** What a token from a link can look like (ours are base64url); anything else is refused unread. */
const LINK_TOKEN_SHAPE = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The token in the query of a link mailed before links carried it in the fragment (the page
 * redirects it there), or why there is none to use.
 */
export function legacyLinkToken(
  query: unknown,
): { kind: "none" } | { kind: "malformed" } | { kind: "token"; token: string } {
  const { token } = (query ?? {}) as Record<string, unknown>;
  if (typeof token !== "string" || token === "") return { kind: "none" };
  return LINK_TOKEN_SHAPE.test(token) ? { kind: "token", token } : { kind: "malformed" };
}

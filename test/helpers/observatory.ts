/**
 * The Mozilla HTTP Observatory's scoring rules for one response's headers, implemented as
 * checks (httpobs/docs/scoring.md: every site starts at 100; each test adds its modifier;
 * bonuses count only when the score without them is 90 or more; 100+ is A+). Only the tests a
 * single response can answer are here: Content-Security-Policy, cookies, CORS, HSTS (when
 * the response came over https), Referrer-Policy, Subresource Integrity, X-Content-Type-
 * Options, X-Frame-Options and X-XSS-Protection (retired by the current Observatory; kept,
 * as the stricter rule set). Redirection is judged by the caller: Strongroom has no plain-
 * HTTP listener when it serves TLS itself ("redirection-not-needed-no-http", 0) and leaves
 * the redirect to the proxy otherwise.
 */

export interface ObservatoryResult {
  score: number;
  grade: string;
  /** Each test's outcome name and modifier, for the failure message. */
  modifiers: Array<{ test: string; result: string; modifier: number }>;
}

type Headers = Record<string, string | string[] | number | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(", ") : String(value);
}

/** Directives of a CSP header: name → source list (lower-cased). */
function parseCsp(text: string): Map<string, string[]> | null {
  const directives = new Map<string, string[]>();
  for (const part of text.split(";")) {
    const tokens = part.trim().split(/\s+/).filter(Boolean);
    const name = tokens.shift()?.toLowerCase();
    if (name === undefined) continue;
    if (!/^[a-z-]+$/.test(name) || directives.has(name)) return null;
    directives.set(
      name,
      tokens.map((token) => token.toLowerCase()),
    );
  }
  return directives.size === 0 ? null : directives;
}

function cspTest(csp: string | undefined, https: boolean): { result: string; modifier: number } {
  if (csp === undefined) return { result: "csp-not-implemented", modifier: -25 };
  const policy = parseCsp(csp);
  if (policy === null) return { result: "csp-header-invalid", modifier: -25 };
  const effective = (name: string) => policy.get(name) ?? policy.get("default-src");
  const script = effective("script-src");
  const object = effective("object-src");
  const broad = (sources: string[] | undefined) =>
    sources === undefined ||
    sources.some((s) => s === "*" || s === "https:" || s === "http:" || s === "data:");
  if (
    broad(script) ||
    script?.includes("'unsafe-inline'") === true ||
    broad(object) ||
    object?.includes("'unsafe-inline'") === true
  )
    return { result: "csp-implemented-with-unsafe-inline", modifier: -20 };
  const all = [...policy.values()].flat();
  if (https && all.some((s) => s === "http:" || s.startsWith("http://")))
    return { result: "csp-implemented-with-insecure-scheme", modifier: -20 };
  if (all.includes("'unsafe-eval'"))
    return { result: "csp-implemented-with-unsafe-eval", modifier: -10 };
  const style = effective("style-src");
  if (style?.some((s) => s === "'unsafe-inline'" || s === "data:" || s === "https:") === true)
    return { result: "csp-implemented-with-unsafe-inline-in-style-src-only", modifier: 0 };
  return policy.get("default-src")?.join(" ") === "'none'"
    ? { result: "csp-implemented-with-no-unsafe-default-src-none", modifier: 10 }
    : { result: "csp-implemented-with-no-unsafe", modifier: 5 };
}

/** Session cookies, as the Observatory guesses them: by name. */
const SESSION_NAME = /sess|login|token|auth|sid|remember/i;

function cookiesTest(
  setCookies: string[],
  hsts: boolean,
): {
  result: string;
  modifier: number;
} {
  if (setCookies.length === 0) return { result: "cookies-not-found", modifier: 0 };
  let worst = { result: "cookies-secure-with-httponly-sessions-and-samesite", modifier: 5 };
  const lower = (candidate: { result: string; modifier: number }) => {
    if (candidate.modifier < worst.modifier) worst = candidate;
  };
  for (const cookie of setCookies) {
    const [pair = "", ...attributes] = cookie.split(";").map((part) => part.trim());
    const name = pair.split("=")[0] ?? "";
    const flags = new Map(
      attributes.map((attribute) => {
        const [key = "", value = ""] = attribute.split("=");
        return [key.toLowerCase(), value.toLowerCase()] as const;
      }),
    );
    const session = SESSION_NAME.test(name);
    if (!flags.has("secure")) {
      lower(
        session
          ? hsts
            ? { result: "cookies-session-without-secure-flag-but-protected-by-hsts", modifier: -10 }
            : { result: "cookies-session-without-secure-flag", modifier: -40 }
          : hsts
            ? { result: "cookies-without-secure-flag-but-protected-by-hsts", modifier: -5 }
            : { result: "cookies-without-secure-flag", modifier: -20 },
      );
    }
    if (session && !flags.has("httponly"))
      lower({ result: "cookies-session-without-httponly-flag", modifier: -30 });
    const sameSite = flags.get("samesite");
    if (sameSite === undefined) {
      if (/csrf|xsrf/i.test(name))
        lower({ result: "cookies-anticsrf-without-samesite-flag", modifier: -20 });
      else lower({ result: "cookies-secure-with-httponly-sessions", modifier: 0 });
    } else if (sameSite !== "strict" && sameSite !== "lax") {
      lower({ result: "cookies-samesite-flag-invalid", modifier: -20 });
    }
  }
  return worst;
}

function hstsTest(value: string | undefined): { result: string; modifier: number } {
  if (value === undefined) return { result: "hsts-not-implemented", modifier: -20 };
  const maxAge = /(?:^|;)\s*max-age=(\d+)\s*(?:;|$)/i.exec(value)?.[1];
  if (maxAge === undefined) return { result: "hsts-header-invalid", modifier: -20 };
  return Number(maxAge) >= 15_768_000
    ? { result: "hsts-implemented-max-age-at-least-six-months", modifier: 0 }
    : { result: "hsts-implemented-max-age-less-than-six-months", modifier: -10 };
}

function referrerTest(value: string | undefined): { result: string; modifier: number } {
  if (value === undefined) return { result: "referrer-policy-not-implemented", modifier: 0 };
  const policies = value.split(",").map((p) => p.trim().toLowerCase());
  const last = policies.at(-1) ?? "";
  if (
    ["no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"].includes(
      last,
    )
  )
    return { result: "referrer-policy-private", modifier: 5 };
  if (last === "no-referrer-when-downgrade")
    return { result: "referrer-policy-no-referrer-when-downgrade", modifier: 0 };
  if (["origin", "origin-when-cross-origin", "unsafe-url"].includes(last))
    return { result: "referrer-policy-unsafe", modifier: -5 };
  return { result: "referrer-policy-header-invalid", modifier: -5 };
}

function sriTest(
  contentType: string | undefined,
  body: string,
  origin: string,
): { result: string; modifier: number } {
  if (!/text\/html/i.test(contentType ?? ""))
    return { result: "sri-not-implemented-response-not-html", modifier: 0 };
  const scripts = [...body.matchAll(/<script\b([^>]*)>/gi)].map((match) => match[1] ?? "");
  const external = scripts
    .map((attributes) => /\bsrc\s*=\s*"([^"]*)"/i.exec(attributes)?.[1])
    .filter((src): src is string => src !== undefined);
  if (external.length === 0)
    return { result: "sri-not-implemented-but-no-scripts-loaded", modifier: 0 };
  const sameOrigin = external.every((src) => new URL(src, origin).origin === origin);
  const integrity = scripts.every((attributes) => /\bintegrity\s*=/.test(attributes));
  if (sameOrigin)
    return integrity
      ? { result: "sri-implemented-and-all-scripts-loaded-securely", modifier: 5 }
      : { result: "sri-not-implemented-but-all-scripts-loaded-from-secure-origin", modifier: 0 };
  const secure = external.every((src) => new URL(src, origin).protocol === "https:");
  if (integrity)
    return secure
      ? { result: "sri-implemented-and-external-scripts-loaded-securely", modifier: 5 }
      : { result: "sri-implemented-but-external-scripts-not-loaded-securely", modifier: -20 };
  return secure
    ? { result: "sri-not-implemented-but-external-scripts-loaded-securely", modifier: -5 }
    : { result: "sri-not-implemented-and-external-scripts-not-loaded-securely", modifier: -50 };
}

/** The grade for a score (httpobs's grading chart). */
export function observatoryGrade(score: number): string {
  const chart: Array<[number, string]> = [
    [100, "A+"],
    [90, "A"],
    [85, "A-"],
    [80, "B+"],
    [70, "B"],
    [65, "B-"],
    [60, "C+"],
    [50, "C"],
    [45, "C-"],
    [40, "D+"],
    [30, "D"],
    [25, "D-"],
  ];
  return chart.find(([floor]) => score >= floor)?.[1] ?? "F";
}

/**
 * Scores one response. `https` says whether it came over TLS (HSTS is judged then only);
 * `origin` is the site's origin (for script sources).
 */
export function scoreResponse(
  response: { headers: Headers; body: string },
  options: { https: boolean; origin: string },
): ObservatoryResult {
  const { headers } = response;
  const csp = header(headers, "content-security-policy");
  const cspResult = cspTest(csp, options.https);
  const strongCsp = cspResult.modifier > 0;
  const raw = headers["set-cookie"];
  const setCookies = raw === undefined ? [] : Array.isArray(raw) ? raw : [String(raw)];
  const hsts = options.https ? header(headers, "strict-transport-security") : undefined;
  const cors = header(headers, "access-control-allow-origin");
  const nosniff = header(headers, "x-content-type-options");
  const xfo = header(headers, "x-frame-options");
  const frameAncestors = csp === undefined ? undefined : parseCsp(csp)?.get("frame-ancestors");
  const xxp = header(headers, "x-xss-protection");
  const tests: Array<{ test: string; result: string; modifier: number }> = [
    { test: "content-security-policy", ...cspResult },
    { test: "cookies", ...cookiesTest(setCookies, hsts !== undefined) },
    {
      test: "cross-origin-resource-sharing",
      ...(cors === "*"
        ? {
            result: "cross-origin-resource-sharing-implemented-with-universal-access",
            modifier: -50,
          }
        : { result: "cross-origin-resource-sharing-not-implemented", modifier: 0 }),
    },
    {
      test: "strict-transport-security",
      ...(options.https
        ? hstsTest(hsts)
        : { result: "hsts-not-implemented-no-https", modifier: -20 }),
    },
    { test: "redirection", result: "redirection-not-needed-no-http", modifier: 0 },
    { test: "referrer-policy", ...referrerTest(header(headers, "referrer-policy")) },
    {
      test: "subresource-integrity",
      ...sriTest(header(headers, "content-type"), response.body, options.origin),
    },
    {
      test: "x-content-type-options",
      ...(nosniff === undefined
        ? { result: "x-content-type-options-not-implemented", modifier: -5 }
        : nosniff.trim().toLowerCase() === "nosniff"
          ? { result: "x-content-type-options-nosniff", modifier: 0 }
          : { result: "x-content-type-options-header-invalid", modifier: -5 }),
    },
    {
      test: "x-frame-options",
      ...(frameAncestors !== undefined && strongCsp
        ? { result: "x-frame-options-implemented-via-csp", modifier: 5 }
        : xfo === undefined
          ? { result: "x-frame-options-not-implemented", modifier: -20 }
          : /^(deny|sameorigin)$/i.test(xfo.trim())
            ? { result: "x-frame-options-sameorigin-or-deny", modifier: 0 }
            : { result: "x-frame-options-header-invalid", modifier: -20 }),
    },
    {
      test: "x-xss-protection",
      ...(strongCsp
        ? { result: "x-xss-protection-not-needed-due-to-csp", modifier: 0 }
        : xxp === undefined
          ? { result: "x-xss-protection-not-implemented", modifier: -10 }
          : /^1\s*;\s*mode=block$/i.test(xxp.trim())
            ? { result: "x-xss-protection-enabled-mode-block", modifier: 0 }
            : { result: "x-xss-protection-disabled", modifier: -10 }),
    },
  ];
  const penalties = tests.reduce((sum, t) => sum + Math.min(0, t.modifier), 0);
  const bonuses = tests.reduce((sum, t) => sum + Math.max(0, t.modifier), 0);
  const base = Math.max(0, 100 + penalties);
  const score = base >= 90 ? base + bonuses : base;
  return { score, grade: observatoryGrade(score), modifiers: tests };
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * Browser features no page of Strongroom uses; denying them limits what injected content
 * could do. Clipboard writing (copy a secret) and passkeys stay available to our own origin.
 */
const PERMISSIONS_POLICY = [
  "accelerometer=()",
  "autoplay=()",
  "camera=()",
  "display-capture=()",
  "encrypted-media=()",
  "fullscreen=()",
  "geolocation=()",
  "gyroscope=()",
  "hid=()",
  "magnetometer=()",
  "microphone=()",
  "midi=()",
  "payment=()",
  "picture-in-picture=()",
  "screen-wake-lock=()",
  "serial=()",
  "usb=()",
  "xr-spatial-tracking=()",
  "clipboard-read=()",
  "clipboard-write=(self)",
  "publickey-credentials-get=(self)",
  "publickey-credentials-create=(self)",
].join(", ");

/** Two years, the HSTS preload list's expectation; well above the one-year minimum. */
const HSTS_MAX_AGE_SECONDS = 63_072_000;

export interface SecurityHeaderOptions {
  /** Add `upgrade-insecure-requests` to the CSP: the public URL is https. */
  upgradeInsecureRequests: boolean;
}

/**
 * The Content-Security-Policy: our own origin only, no plugins, no framing, no `<base>`, and
 * forms posting only to us. `upgrade-insecure-requests` is added when the public URL is https.
 */
const CSP_DIRECTIVES = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'self'",
];

/**
 * The headers helmet (v8) sends for our settings (the CSP above, frameguard `deny`,
 * `no-referrer`, same-origin COOP and CORP, `require-corp` COEP, HSTS off: see below),
 * computed once: `@fastify/helmet` built helmet's middleware again, CSP parsing included, on
 * every request. `test/http.test.ts` checks them against helmet's own output.
 */
export function staticSecurityHeaders(
  options: SecurityHeaderOptions,
): ReadonlyArray<readonly [string, string]> {
  const csp = options.upgradeInsecureRequests
    ? [...CSP_DIRECTIVES, "upgrade-insecure-requests"]
    : CSP_DIRECTIVES;
  return [
    ["Content-Security-Policy", csp.join(";")],
    ["Cross-Origin-Embedder-Policy", "require-corp"],
    ["Cross-Origin-Opener-Policy", "same-origin"],
    ["Cross-Origin-Resource-Policy", "same-origin"],
    ["Origin-Agent-Cluster", "?1"],
    ["Referrer-Policy", "no-referrer"],
    // Strict-Transport-Security is added per request, below: only over HTTPS.
    ["X-Content-Type-Options", "nosniff"],
    ["X-DNS-Prefetch-Control", "off"],
    ["X-Download-Options", "noopen"],
    ["X-Frame-Options", "DENY"],
    ["X-Permitted-Cross-Domain-Policies", "none"],
    // `0`: the old XSS auditor is itself an information-leak vector.
    ["X-XSS-Protection", "0"],
  ];
}

const HSTS = `max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains`;

/**
 * Security headers on every response — pages, JSON, errors, 404s and static files alike —
 * in one onRequest hook: what helmet sends for our settings, Permissions-Policy, HSTS only on
 * requests that really arrived over HTTPS (directly or via a trusted proxy), and
 * `Cache-Control: no-store` by default so nothing is cached unless a route opts in.
 */
export function registerSecurityHeaders(
  app: FastifyInstance,
  options: SecurityHeaderOptions,
): void {
  const setHeaders = createSecurityHeaderSetter(options);
  app.addHook("onRequest", (request, reply, done) => {
    setHeaders(request, reply);
    done();
  });
}

/**
 * Sets the headers of {@link registerSecurityHeaders} on one reply: for answers no hook runs
 * for (URLs the router refuses before routing).
 */
export function createSecurityHeaderSetter(
  options: SecurityHeaderOptions,
): (request: FastifyRequest, reply: FastifyReply) => void {
  const helmetHeaders = staticSecurityHeaders(options);
  return (request, reply) => {
    // On the raw response, where helmet put them.
    const raw = reply.raw;
    for (const [name, value] of helmetHeaders) raw.setHeader(name, value);
    raw.removeHeader("X-Powered-By");
    reply.header("permissions-policy", PERMISSIONS_POLICY);
    reply.header("cache-control", "no-store");
    if (request.protocol === "https") reply.header("strict-transport-security", HSTS);
  };
}

import helmet from "@fastify/helmet";
import type { FastifyInstance } from "fastify";

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
 * Security headers on every response — pages, JSON, errors, 404s and static files alike —
 * through @fastify/helmet, plus what helmet does not send: Permissions-Policy, HSTS only on
 * requests that really arrived over HTTPS (directly or via a trusted proxy), and
 * `Cache-Control: no-store` by default so nothing is cached unless a route opts in.
 */
export async function registerSecurityHeaders(
  app: FastifyInstance,
  options: SecurityHeaderOptions,
): Promise<void> {
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", "data:"],
        fontSrc: ["'self'"],
        connectSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        ...(options.upgradeInsecureRequests ? { upgradeInsecureRequests: [] } : {}),
      },
    },
    // HSTS is added below, per request, only when the request came over HTTPS: sending it on
    // plain http is ignored by browsers and misleads people reading the headers.
    strictTransportSecurity: false,
    frameguard: { action: "deny" },
    referrerPolicy: { policy: "no-referrer" },
    crossOriginOpenerPolicy: { policy: "same-origin" },
    crossOriginResourcePolicy: { policy: "same-origin" },
    crossOriginEmbedderPolicy: { policy: "require-corp" },
    // Sends `X-XSS-Protection: 0`: the old auditor is itself an information-leak vector.
    xXssProtection: true,
  });

  app.addHook("onRequest", async (request, reply) => {
    reply.header("permissions-policy", PERMISSIONS_POLICY);
    reply.header("cache-control", "no-store");
    if (request.protocol === "https") {
      reply.header(
        "strict-transport-security",
        `max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains`,
      );
    }
  });
}

import { readFileSync } from "node:fs";
import fastifyCookie from "@fastify/cookie";
import type { FastifyInstance, FastifyServerOptions } from "fastify";
import Fastify from "fastify";
import type { Logger } from "pino";
import { authRoutes } from "./accounts/auth.routes.js";
import type { AccountsContext } from "./accounts/context.js";
import { createAccountLimits } from "./accounts/limits.js";
import { meRoutes } from "./accounts/me.routes.js";
import { passkeyRoutes } from "./accounts/passkeys.routes.js";
import { sessionAuthenticator } from "./accounts/session-cookie.js";
import { registerApiSessionGates } from "./accounts/session-gates.js";
import { verifySessionCsrfToken } from "./accounts/sessions.service.js";
import { adminRoutes } from "./admin/index.js";
import type { AuditEventCounter } from "./audit/index.js";
import { auditRoutes } from "./audit/index.js";
import type { Config } from "./config/config.js";
import type { DatabaseHandle } from "./db/database.js";
import { registerAuthentication } from "./http/authentication.js";
import { registerCallerRateLimit } from "./http/caller-rate-limit.js";
import { registerCsrfProtection } from "./http/csrf.js";
import {
  answerFrameworkError,
  createClientErrorHandler,
  registerErrorHandling,
} from "./http/errors.js";
import { JSON_BODY_LIMIT_BYTES, registerJsonBodyParser } from "./http/json-body.js";
import { registerMethodGuard } from "./http/method-guard.js";
import { collectOpenApiRoutes } from "./http/openapi.js";
import { registerSecurityEventLog } from "./http/security-events.js";
import { createSecurityHeaderSetter, registerSecurityHeaders } from "./http/security-headers.js";
import { tlsServerOptions } from "./http/tls.js";
import { registerZodCompilers } from "./http/zod.js";
import { unauthenticated } from "./lib/errors.js";
import { randomId } from "./lib/random.js";
import type { Mailer } from "./mail/mailer.js";
import { healthRoutes } from "./ops/health.routes.js";
import { createAppMetrics } from "./ops/metrics.js";
import { registerMetrics } from "./ops/metrics.routes.js";
import { shareRoutes } from "./shares/index.js";
import type { ThrottleStore } from "./throttle/throttle.js";
import { bearerAuthenticator, tokenRoutes } from "./tokens/index.js";
import { secretRoutes } from "./vaults/secrets.routes.js";
import { vaultRoutes } from "./vaults/vaults.routes.js";
import { pageRoutes } from "./web/pages.routes.js";
import { webRoutes } from "./web/web.routes.js";

declare module "fastify" {
  interface FastifyInstance {
    /** Method and URL pattern of every route (HEAD excluded), in registration order. */
    registeredRoutes: ReadonlyArray<{ method: string; url: string }>;
  }
}

/** A request must be fully received and answered within this time (slow-loris defence). */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Idle keep-alive connections are closed after this long. */
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;

export interface AppDependencies {
  database: DatabaseHandle;
  logger: Logger;
  /** Attempt counters (Redis when REDIS_URL is set, else in-process). */
  throttle: ThrottleStore;
  mailer: Mailer;
  /** The clock; tests inject one to move time. Defaults to the system clock. */
  now?: () => Date;
}

/**
 * Builds the application: the one factory used by the server, the tests (through `inject`)
 * and the CLI. Security plugins are registered before any route so that they apply to all.
 */
export async function buildApp(config: Config, deps: AppDependencies): Promise<FastifyInstance> {
  const securityHeaders = createSecurityHeaderSetter({
    upgradeInsecureRequests: config.publicUrlIsHttps,
  });
  const options: FastifyServerOptions & { https?: ReturnType<typeof tlsServerOptions> } = {
    loggerInstance: deps.logger,
    // Never trust a client-supplied request id: it would let callers forge log correlation.
    genReqId: () => randomId(),
    requestIdHeader: false,
    bodyLimit: JSON_BODY_LIMIT_BYTES,
    trustProxy: config.trustProxy ?? false,
    requestTimeout: REQUEST_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    onProtoPoisoning: "error",
    onConstructorPoisoning: "error",
    return503OnClosing: true,
    routerOptions: { maxParamLength: 256 },
    // What the HTTP parser refuses is answered in problem+json too, not the framework's JSON.
    clientErrorHandler: createClientErrorHandler(deps.logger),
    // So are URLs the router refuses (bad percent-encoding, a parameter over maxParamLength),
    // with the headers the hooks, which never run for them, would have set.
    frameworkErrors: (error, request, reply) => {
      securityHeaders(request, reply);
      reply.header("x-request-id", request.id);
      answerFrameworkError(error, request, reply);
    },
  };
  if (config.tls !== null) {
    options.https = tlsServerOptions({
      cert: readFileSync(config.tls.certFile),
      key: readFileSync(config.tls.keyFile),
    });
  }
  const app = Fastify(options) as unknown as FastifyInstance;

  // Every route as registered, for the authorization matrix and the OpenAPI coverage tests.
  const registeredRoutes: Array<{ method: string; url: string }> = [];
  app.decorate("registeredRoutes", registeredRoutes);
  app.addHook("onRoute", (route) => {
    for (const method of [route.method].flat()) {
      if (method !== "HEAD") registeredRoutes.push({ method, url: route.url });
    }
  });

  app.addHook("onSend", async (request, reply) => {
    reply.header("x-request-id", request.id);
  });

  registerSecurityHeaders(app, { upgradeInsecureRequests: config.publicUrlIsHttps });
  registerMethodGuard(app);
  registerJsonBodyParser(app);
  registerZodCompilers(app);
  registerErrorHandling(app, {
    exposeInternals: config.debug && config.env === "development",
    isUnavailableError: (error) => deps.database.dialect.isConnectionError(error),
  });
  registerSecurityEventLog(app);

  // Metrics only when METRICS_TOKEN is set: otherwise no registry, no hook, no route (404).
  // One registry per app, never prom-client's global one, so apps in one process stay apart.
  let countAuditEvent: AuditEventCounter = () => {};
  if (config.metricsToken !== null) {
    const metrics = createAppMetrics({
      pingDatabase: (timeoutMs) => deps.database.ping(timeoutMs),
      poolStats: () => deps.database.poolStats(),
      redisConnected: () => deps.throttle.redisConnected(),
      logger: deps.logger,
    });
    registerMetrics(app, { metrics, token: config.metricsToken });
    countAuditEvent = metrics.countAuditEvent;
  }

  const now = deps.now ?? (() => new Date());
  const db = deps.database.db;
  const accounts: AccountsContext = {
    config,
    limits: createAccountLimits(deps.throttle, config),
    mailer: deps.mailer,
    logger: deps.logger,
    now,
    countAuditEvent,
  };
  await app.register(fastifyCookie, { hook: "onRequest" });
  // Bearer first: a request with a bad Authorization header is a 401, never the cookie's user.
  registerAuthentication(app, [
    bearerAuthenticator(db, now, config.requireMfa),
    sessionAuthenticator(db, config, now),
  ]);
  // After authentication, so the caller is known; before anything reads the body.
  registerCallerRateLimit(app, {
    throttle: deps.throttle,
    requestsPerMinute: config.apiRateLimit,
  });
  registerCsrfProtection(app, {
    publicOrigin: new URL(config.publicUrl).origin,
    allowLoopbackOrigins: config.env !== "production",
    verifyToken: (principal, presented) =>
      principal.sessionId !== null &&
      verifySessionCsrfToken(config.secretKey, principal.sessionId, presented),
  });

  // Before any API route, so every one is seen as it registers.
  const openApiDocument = collectOpenApiRoutes(app);

  await app.register(healthRoutes, {
    pingDatabase: (timeoutMs: number) => deps.database.ping(timeoutMs),
  });
  await app.register(
    async (api) => {
      // Deny by default: an API route serves a caller without credentials only when it says
      // so (`public`, or reached before a session exists), and refuses the others before
      // their input is even validated, so a new route cannot be left open by mistake.
      api.addHook("preValidation", async (request) => {
        const route = request.routeOptions.config;
        const open = route.public === true || route.csrf === "origin-only";
        if (request.principal === null && !open) throw unauthenticated();
      });
      // Enforced two-factor (REQUIRE_MFA) and step-up re-authentication (REAUTH_MINUTES).
      registerApiSessionGates(api, { reauthMinutes: config.reauthMinutes, now });
      // The API's own description, for people and tools: public, like the API's shape.
      api.get("/openapi.json", { config: { public: true } }, async () => openApiDocument());
      await api.register(authRoutes, { db, ctx: accounts });
      await api.register(meRoutes, { db, ctx: accounts });
      await api.register(passkeyRoutes, { db, ctx: accounts });
      await api.register(adminRoutes, { db, config, now });
      await api.register(auditRoutes, { db });
      await api.register(tokenRoutes, { db, now });
      await api.register(vaultRoutes, { db, now });
      await api.register(secretRoutes, {
        db,
        now,
        keys: { keyring: config.masterKeys, secretKey: config.secretKey },
        countAuditEvent,
      });
      await api.register(shareRoutes, {
        db,
        now,
        publicUrl: config.publicUrl,
        throttle: deps.throttle,
      });
    },
    { prefix: "/api/v1" },
  );
  await app.register(webRoutes);
  await app.register(pageRoutes, { db, ctx: accounts, openApiDocument });
  return app;
}

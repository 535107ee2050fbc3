import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { AuditEventCounter } from "../audit/audit.service.js";
import type { Db } from "../db/schema.js";
import { requirePrincipal } from "../http/authentication.js";
import type { ZodTypeProvider } from "../http/zod.js";
import { authorizeVault } from "./access.js";
import { preconditionFromHeaders, writePreconditionHeaders } from "./preconditions.js";
import type { SecretRow } from "./secrets.repository.js";
import type { SecretKeys } from "./secrets.service.js";
import {
  deleteSecret,
  listSecrets,
  listSecretVersions,
  putSecret,
  restoreVersion,
  revealSecretInVault,
  setExpiry,
} from "./secrets.service.js";
import { actingFrom } from "./vaults.routes.js";
import {
  listSecretsQuery,
  patchSecretBody,
  putSecretBody,
  SECRET_BODY_LIMIT_BYTES,
  secretMetadataResponse,
  secretParams,
  secretValueResponse,
  vaultParams,
  versionParams,
  versionResponse,
} from "./vaults.schema.js";

export interface SecretRouteOptions {
  db: Db;
  keys: SecretKeys;
  now: () => Date;
  /** Counts reveals for metrics (a no-op when metrics are off). */
  countAuditEvent: AuditEventCounter;
}

function presentMetadata(secret: SecretRow): z.infer<typeof secretMetadataResponse> {
  return {
    name: secret.name,
    type: secret.type,
    version: secret.current_version,
    expiresAt: secret.expires_at,
    createdAt: secret.created_at,
    updatedAt: secret.updated_at,
  };
}

/** `/vaults/{vault}/secrets*`. Values leave only through the reveal routes, never cached. */
export async function secretRoutes(
  app: FastifyInstance,
  { db, keys, now, countAuditEvent }: SecretRouteOptions,
): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get(
    "/vaults/:vault/secrets",
    {
      schema: {
        params: vaultParams,
        querystring: listSecretsQuery,
        response: {
          200: z.object({
            secrets: z.array(secretMetadataResponse),
            nextCursor: z.string().nullable(),
          }),
        },
      },
    },
    async (request) => {
      const access = await authorizeVault(
        db,
        requirePrincipal(request),
        request.params.vault,
        "secret.list",
      );
      const page = await listSecrets(
        db,
        keys,
        access,
        request.query.limit,
        request.query.cursor,
        request.query.q ?? null,
        request.query.expiringWithinDays === undefined
          ? null
          : { withinDays: request.query.expiringWithinDays, now: now() },
      );
      return { secrets: page.secrets.map(presentMetadata), nextCursor: page.nextCursor };
    },
  );

  routes.put(
    "/vaults/:vault/secrets/:name",
    {
      bodyLimit: SECRET_BODY_LIMIT_BYTES,
      schema: {
        params: secretParams,
        headers: writePreconditionHeaders,
        body: putSecretBody,
        response: { 200: secretMetadataResponse, 201: secretMetadataResponse },
      },
    },
    async (request, reply) => {
      const acting = actingFrom(request, now);
      const access = await authorizeVault(db, acting.actor, request.params.vault, "secret.write");
      const { secret, created } = await putSecret(db, keys, acting, access, {
        name: request.params.name,
        ...request.body,
        precondition: preconditionFromHeaders(request.headers),
      });
      reply.status(created ? 201 : 200);
      reply.header("etag", `"${secret.current_version}"`);
      return presentMetadata(secret);
    },
  );

  routes.get(
    "/vaults/:vault/secrets/:name",
    {
      config: { stepUp: true },
      schema: { params: secretParams, response: { 200: secretValueResponse } },
    },
    async (request, reply) => {
      const acting = actingFrom(request, now);
      const revealed = await revealSecretInVault(
        db,
        keys,
        acting,
        request.params.vault,
        request.params.name,
      );
      // Outside a transaction, revealSecretInVault's audit event is committed once it returns.
      countAuditEvent("secret.reveal");
      reply.header("cache-control", "no-store");
      reply.header("etag", `"${revealed.version}"`);
      return {
        ...presentMetadata(revealed.secret),
        type: revealed.type,
        value: revealed.value,
        note: revealed.note,
      };
    },
  );

  // Owners change when a secret expires without writing a new version: extending an
  // expired secret makes its old value revealable again, which editors must not decide.
  routes.patch(
    "/vaults/:vault/secrets/:name",
    {
      schema: {
        params: secretParams,
        headers: writePreconditionHeaders,
        body: patchSecretBody,
        response: { 200: secretMetadataResponse },
      },
    },
    async (request, reply) => {
      const acting = actingFrom(request, now);
      const access = await authorizeVault(db, acting.actor, request.params.vault, "secret.expiry");
      const secret = await setExpiry(
        db,
        acting,
        access,
        request.params.name,
        request.body.expiresAt,
        preconditionFromHeaders(request.headers),
      );
      reply.header("etag", `"${secret.current_version}"`);
      return presentMetadata(secret);
    },
  );

  routes.get(
    "/vaults/:vault/secrets/:name/versions",
    {
      schema: {
        params: secretParams,
        response: { 200: z.object({ versions: z.array(versionResponse) }) },
      },
    },
    async (request) => {
      const access = await authorizeVault(
        db,
        requirePrincipal(request),
        request.params.vault,
        "secret.list",
      );
      const versions = await listSecretVersions(db, access, request.params.name);
      return {
        versions: versions.map((v) => ({
          version: v.version,
          createdAt: v.created_at,
          createdBy: v.created_by,
        })),
      };
    },
  );

  routes.get(
    "/vaults/:vault/secrets/:name/versions/:n",
    {
      config: { stepUp: true },
      schema: { params: versionParams, response: { 200: secretValueResponse } },
    },
    async (request, reply) => {
      const acting = actingFrom(request, now);
      const revealed = await revealSecretInVault(
        db,
        keys,
        acting,
        request.params.vault,
        request.params.name,
        request.params.n,
      );
      countAuditEvent("secret.reveal-version");
      reply.header("cache-control", "no-store");
      return {
        ...presentMetadata(revealed.secret),
        type: revealed.type,
        version: revealed.version,
        createdAt: revealed.createdAt,
        value: revealed.value,
        note: revealed.note,
      };
    },
  );

  routes.delete(
    "/vaults/:vault/secrets/:name",
    { schema: { params: secretParams } },
    async (request, reply) => {
      const acting = actingFrom(request, now);
      const access = await authorizeVault(db, acting.actor, request.params.vault, "secret.delete");
      await deleteSecret(db, acting, access, request.params.name);
      reply.status(204);
    },
  );

  routes.post(
    "/vaults/:vault/secrets/:name/versions/:n/restore",
    {
      schema: {
        params: versionParams,
        headers: writePreconditionHeaders,
        response: { 201: secretMetadataResponse },
      },
    },
    async (request, reply) => {
      const acting = actingFrom(request, now);
      const access = await authorizeVault(db, acting.actor, request.params.vault, "secret.write");
      const { secret } = await restoreVersion(
        db,
        keys,
        acting,
        access,
        request.params.name,
        request.params.n,
        preconditionFromHeaders(request.headers),
      );
      reply.status(201);
      reply.header("etag", `"${secret.current_version}"`);
      return presentMetadata(secret);
    },
  );
}

import type { FastifyInstance } from "fastify";
import { z } from "zod";
import type { Db } from "../db/schema.js";
import { requirePrincipal } from "../http/authentication.js";
import type { ZodTypeProvider } from "../http/zod.js";
import { addressKey } from "../lib/address.js";
import { AppError } from "../lib/errors.js";
import type { ThrottleStore } from "../throttle/throttle.js";
import { authorizeVault } from "../vaults/access.js";
import { actingFrom } from "../vaults/vaults.routes.js";
import type { ShareSummary } from "./shares.repository.js";
import {
  createShareBody,
  SHARE_BODY_LIMIT_BYTES,
  secretShareParams,
  sharedCiphertextResponse,
  shareParams,
  shareResponse,
  shareRevokeParams,
} from "./shares.schema.js";
import { createShare, listSecretShares, revokeShare, viewShare } from "./shares.service.js";

export interface ShareRouteOptions {
  db: Db;
  now: () => Date;
  /** PUBLIC_URL: links are made absolute with it. */
  publicUrl: string;
  throttle: ThrottleStore;
}

/** Opens of share links allowed per client address (IPv6: per /64) per minute. */
export const SHARE_VIEWS_PER_ADDRESS_PER_MINUTE = 30;

/** The path of a link's page, without the key (the browser appends `#` and the key). */
export function sharePath(id: string): string {
  return `/s/${id}`;
}

/**
 * A link as its API shows it: with its id and URL right after creation (`linkId`, which only
 * that answer ever holds), afterwards by its handle.
 */
function presentShare(
  share: ShareSummary,
  vaultSlug: string,
  linkId?: string,
  publicUrl?: string,
): z.infer<typeof shareResponse> {
  return {
    id: linkId ?? share.id,
    ...(linkId !== undefined && publicUrl !== undefined
      ? { url: new URL(sharePath(linkId), publicUrl).href }
      : {}),
    vault: vaultSlug,
    secret: share.secret_name,
    maxViews: share.max_views,
    views: share.view_count,
    expiresAt: share.expires_at,
    createdAt: share.created_at,
    createdBy: share.created_by_name,
  };
}

/**
 * `/vaults/{vault}/secrets/{name}/shares` (create, list) and `/shares/{id}` (open, revoke).
 * Opening is the one API route anyone may call without credentials: the link is the
 * credential. It is throttled per address and never cached.
 */
export async function shareRoutes(
  app: FastifyInstance,
  { db, now, publicUrl, throttle }: ShareRouteOptions,
): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const viewsPerAddress = throttle.limiter({
    name: "share-view-address",
    points: SHARE_VIEWS_PER_ADDRESS_PER_MINUTE,
    durationSeconds: 60,
    blockSeconds: 60,
  });

  routes.post(
    "/vaults/:vault/secrets/:name/shares",
    {
      bodyLimit: SHARE_BODY_LIMIT_BYTES,
      schema: {
        params: secretShareParams,
        body: createShareBody,
        response: { 201: z.object({ share: shareResponse }) },
      },
    },
    async (request, reply) => {
      const acting = actingFrom(request, now);
      const access = await authorizeVault(db, acting.actor, request.params.vault, "share.create");
      const { linkId, share } = await createShare(db, acting, access, {
        secretName: request.params.name,
        ciphertext: Buffer.from(request.body.ciphertext, "base64url"),
        maxViews: request.body.maxViews,
        expiresInMinutes: request.body.expiresInMinutes,
      });
      reply.status(201);
      return { share: presentShare(share, access.vault.slug, linkId, publicUrl) };
    },
  );

  routes.get(
    "/vaults/:vault/secrets/:name/shares",
    {
      schema: {
        params: secretShareParams,
        response: { 200: z.object({ shares: z.array(shareResponse) }) },
      },
    },
    async (request) => {
      const actor = requirePrincipal(request);
      const access = await authorizeVault(db, actor, request.params.vault, "share.create");
      const shares = await listSecretShares(db, actor, access, request.params.name, {
        limit: 200,
        now: now(),
      });
      return { shares: shares.map((share) => presentShare(share, access.vault.slug)) };
    },
  );

  routes.get(
    "/shares/:id",
    {
      // The link is the credential: whoever holds it may open it, signed in or not.
      config: { public: true },
      schema: { params: shareParams, response: { 200: sharedCiphertextResponse } },
    },
    async (request, reply) => {
      const decision = await viewsPerAddress.consume(addressKey(request.ip));
      if (!decision.allowed) {
        throw new AppError("too-many-requests", 429, "Too many requests", {
          detail: "Too many share links opened from this address; try again later.",
          headers: { "retry-after": String(decision.retryAfterSeconds) },
        });
      }
      const shared = await viewShare(
        db,
        { principal: request.principal, address: request.ip, now: now() },
        request.params.id,
      );
      reply.header("cache-control", "no-store");
      return {
        ciphertext: shared.ciphertext.toString("base64url"),
        viewsLeft: shared.viewsLeft,
        expiresAt: shared.expiresAt,
      };
    },
  );

  routes.delete(
    "/shares/:id",
    { schema: { params: shareRevokeParams } },
    async (request, reply) => {
      await revokeShare(db, actingFrom(request, now), request.params.id);
      reply.status(204);
    },
  );
}

import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { h } from "preact";
import type { AccountsContext } from "../accounts/context.js";
import type { Db } from "../db/schema.js";
import type { Principal } from "../http/authentication.js";
import { notFound } from "../lib/errors.js";
import { listSecretShares, revokeShare } from "../shares/index.js";
import { shareIdOrHandleSchema, shareIdSchema } from "../shares/shares.schema.js";
import { authorizeVault } from "../vaults/access.js";
import { secretNameSchema, vaultSlugSchema } from "../vaults/vaults.schema.js";
import { pageContext, sendPage } from "./pages.routes.js";
import { ShareManagePage, ShareViewPage } from "./share.pages.js";
import { setFlash } from "./web-context.js";

export interface SharePageOptions {
  db: Db;
  ctx: AccountsContext;
}

type Params = Record<string, string | undefined>;

function parsed<T>(
  schema: { safeParse(v: unknown): { success: boolean; data?: T } },
  v: unknown,
): T {
  const result = schema.safeParse(v);
  if (!result.success || result.data === undefined) throw notFound();
  return result.data;
}

function signedIn(request: FastifyRequest, reply: FastifyReply): Principal | null {
  if (request.principal?.kind === "session") return request.principal;
  void reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 303);
  return null;
}

/** `/s/{id}` (a link's page, public) and the share-link management page of a secret. */
export async function sharePages(
  app: FastifyInstance,
  { db, ctx }: SharePageOptions,
): Promise<void> {
  // Public and free of any database read: opening the page takes no view and tells nothing.
  app.get("/s/:id", async (request, reply) => {
    const id = parsed<string>(shareIdSchema, (request.params as Params).id);
    return sendPage(reply, h(ShareViewPage, { context: pageContext(request, reply, ctx), id }));
  });

  app.get("/vaults/:vault/secrets/:name/shares", async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const params = request.params as Params;
    const slug = parsed<string>(vaultSlugSchema, params.vault);
    const name = parsed<string>(secretNameSchema, params.name);
    const access = await authorizeVault(db, actor, slug, "share.create");
    const links = await listSecretShares(db, actor, access, name, { limit: 200, now: ctx.now() });
    return sendPage(
      reply,
      h(ShareManagePage, {
        context: pageContext(request, reply, ctx),
        vault: access.vault.slug,
        secret: name,
        links: links.map((link) => ({
          id: link.id,
          maxViews: link.max_views,
          views: link.view_count,
          expiresAt: link.expires_at,
          createdAt: link.created_at,
          createdBy: link.created_by_name,
        })),
      }),
    );
  });

  app.post("/vaults/:vault/secrets/:name/shares/:id/revoke", async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const params = request.params as Params;
    const slug = parsed<string>(vaultSlugSchema, params.vault);
    const name = parsed<string>(secretNameSchema, params.name);
    const id = parsed<string>(shareIdOrHandleSchema, params.id);
    await revokeShare(db, { actor, address: request.ip, now: ctx.now() }, id);
    setFlash(
      reply,
      ctx.config.secretKey,
      { kind: "success", text: "Link revoked." },
      ctx.config.publicUrlIsHttps,
    );
    return reply.redirect(
      `/vaults/${encodeURIComponent(slug)}/secrets/${encodeURIComponent(name)}/shares`,
      303,
    );
  });
}

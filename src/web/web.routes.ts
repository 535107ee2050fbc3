import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";
import { assetHash, STATIC_ROOT } from "./assets.js";

/** A year, the longest cache lifetime worth asking for. */
const IMMUTABLE = "public, max-age=31536000, immutable";

/**
 * Static assets under `/static/` (no directory listings, no dotfiles; @fastify/static
 * resolves paths inside the root only, so `..` cannot escape it). A request carrying the
 * file's current content hash (`?v=…`, as pages link them) may be cached for a year;
 * anything else must be revalidated. Assets are the same for everyone: no authenticator runs
 * for them (no session lookup or touch per file), so they spend no caller's request budget.
 */
export async function webRoutes(app: FastifyInstance): Promise<void> {
  app.addHook("onRoute", (route) => {
    if (route.url.startsWith("/static/")) route.config = { ...route.config, authenticate: false };
  });
  app.addHook("onRequest", async (request, reply) => {
    if (!request.url.startsWith("/static/")) return;
    const [path = "", query = ""] = request.url.slice("/static/".length).split("?");
    const version = new URLSearchParams(query).get("v");
    const current = assetHash(decodeURIComponent(path));
    reply.header("cache-control", current !== null && version === current ? IMMUTABLE : "no-cache");
  });
  await app.register(fastifyStatic, {
    root: STATIC_ROOT,
    prefix: "/static/",
    index: false,
    list: false,
    dotfiles: "deny",
    decorateReply: false,
    cacheControl: false,
  });
}

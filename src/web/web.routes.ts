import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

const STATIC_ROOT = fileURLToPath(new URL("./static/", import.meta.url));

/**
 * Static assets under `/static/` (no directory listings, no dotfiles; @fastify/static
 * resolves paths inside the root only, so `..` cannot escape it) and the pages.
 */
export async function webRoutes(app: FastifyInstance): Promise<void> {
  await app.register(fastifyStatic, {
    root: STATIC_ROOT,
    prefix: "/static/",
    index: false,
    list: false,
    dotfiles: "deny",
    decorateReply: false,
    cacheControl: true,
    maxAge: "1h",
  });
}

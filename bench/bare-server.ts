/**
 * The limit the benchmarks compare against: Fastify with no plugins, no logging and no
 * database, answering `{"ok":true}` on a loopback port (PORT), in its own process like the
 * real server.
 */
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.get("/", async () => ({ ok: true }));
await app.listen({ host: "127.0.0.1", port: Number(process.env.PORT) });

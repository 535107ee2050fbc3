/**
 * Reveal throughput through the TLS proxy with one and with two instances, on this machine:
 * the figures quoted in docs/deployment.md ("Limits"). Uses the multi-instance test's
 * harness (nginx, a private Redis, a fresh PostgreSQL schema).
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test node --import tsx bench/cluster.ts
 *
 * Prints one line per setup; nothing is asserted (numbers depend on the machine).
 */
import { Agent, request } from "node:https";
import { setTimeout as sleep } from "node:timers/promises";
import {
  clusterSecrets,
  clusterSkipReason,
  makeCertificate,
  startInstance,
  startNginx,
} from "../test/cluster/harness.js";
import { GOOD_PASSWORD } from "../test/helpers/accounts.js";
import { createPostgresTestDatabase, databaseUrlOf } from "../test/helpers/databases.js";
import { runCli } from "../test/helpers/process.js";
import { findFreePort, startRedisServer } from "../test/helpers/redis-server.js";

const SECONDS = 8;
const CONNECTIONS = 16;

const skip = clusterSkipReason();
if (skip !== null) {
  console.error(skip);
  process.exit(2);
}

const secrets = clusterSecrets();
const database = await createPostgresTestDatabase();
const redis = await startRedisServer();
const { cert, key, pem } = makeCertificate(secrets.dir);
const ports = [await findFreePort(), await findFreePort()];
const env = {
  NODE_ENV: "production",
  SECRET_KEY: secrets.secretKey,
  MASTER_KEY: secrets.masterKey("k1"),
  DATABASE_URL: databaseUrlOf(database.target),
  REDIS_URL: redis.url,
  TRUST_PROXY: "127.0.0.1",
  LOG_LEVEL: "warn",
  // As in bench.ts: the budget (counted in Redis here) runs on every request but never refuses.
  API_RATE_LIMIT: "1000000",
};
await runCli(
  ["users", "create", "bench_user", "--email", "bench@example.test", "--password-stdin"],
  { ...env, PUBLIC_URL: "https://127.0.0.1" },
  secrets.dir,
  `${GOOD_PASSWORD}\n`,
);

for (const count of [1, 2]) {
  const nginx = await startNginx({ dir: secrets.dir, upstreams: ports.slice(0, count), cert, key });
  const origin = `https://127.0.0.1:${nginx.port}`;
  const instances = [];
  for (const port of ports.slice(0, count)) {
    instances.push(await startInstance({ ...env, PUBLIC_URL: origin }, secrets.dir, port));
  }
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS, ca: pem });
  const send = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
      (resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = request(
          {
            host: "127.0.0.1",
            port: nginx.port,
            method,
            path,
            agent,
            headers: {
              ...headers,
              ...(payload === undefined ? {} : { "content-type": "application/json" }),
            },
          },
          (res) => {
            let text = "";
            res.on("data", (chunk: Buffer) => {
              text += chunk.toString();
            });
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
            );
          },
        );
        req.on("error", reject);
        req.end(payload);
      },
    );
  const login = await send(
    "POST",
    "/api/v1/auth/login",
    { origin },
    {
      username: "bench_user",
      password: GOOD_PASSWORD,
    },
  );
  if (login.status !== 200) throw new Error(`sign-in failed: ${login.status} ${login.body}`);
  const cookie = String((login.headers["set-cookie"] as string[])[0]).split(";")[0] ?? "";
  const csrf = (JSON.parse(login.body) as { csrfToken: string }).csrfToken;
  const auth = { cookie, "x-csrf-token": csrf, origin };
  const slug = `bench-${count}`;
  await send("POST", "/api/v1/vaults", auth, { slug });
  await send("PUT", `/api/v1/vaults/${slug}/secrets/KEY`, auth, { value: "v".repeat(64) });

  const latencies: number[] = [];
  let errors = 0;
  const deadline = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        const reply = await send("GET", `/api/v1/vaults/${slug}/secrets/KEY`, { cookie });
        if (reply.status === 200) latencies.push(performance.now() - started);
        else errors += 1;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.floor(q * (latencies.length - 1))]?.toFixed(1);
  console.log(
    `${count} instance(s): ${(latencies.length / SECONDS).toFixed(0)} reveals/s, ` +
      `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, ${errors} errors (${CONNECTIONS} connections, ${SECONDS} s)`,
  );
  agent.destroy();
  for (const instance of instances) await instance.stop();
  await nginx.stop();
  await sleep(200);
}

await redis.stop();
await database.cleanup();

/**
 * A private `redis-server` on a free loopback port, which a test may stop and start again to
 * simulate a Redis outage without touching the shared server other tests use.
 */
import type { ChildProcess } from "node:child_process";
import { spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";

/** A running private Redis server. */
export interface TestRedisServer {
  /** `redis://127.0.0.1:PORT`, no credentials. */
  url: string;
  port: number;
  /** Kills the server and resolves once the process has exited (idempotent). */
  stop(): Promise<void>;
  /** Starts the server again on the same port (empty: nothing is persisted) and waits for PING. */
  start(): Promise<void>;
}

/** How long a server has to answer PING after it is spawned. */
const READY_TIMEOUT_MS = 10_000;
/** How long SIGTERM gets before SIGKILL. */
const STOP_TIMEOUT_MS = 5_000;

/** True when a `redis-server` binary is on PATH, so tests can decide to skip. */
export function isRedisServerInstalled(): boolean {
  const probe = spawnSync("redis-server", ["--version"], { stdio: "ignore" });
  return probe.error === undefined && probe.status === 0;
}

/**
 * Spawns `redis-server --port P --bind 127.0.0.1 --save "" --appendonly no` on a free port and
 * waits until it answers PING.
 *
 * @throws {Error} when the binary is missing, or no server answers PING within 10 s.
 */
export async function startRedisServer(): Promise<TestRedisServer> {
  // Asking the kernel for a free port and then releasing it races with other processes, so a
  // server that dies at once (port taken meanwhile) is retried on a new port.
  let lastError: unknown = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await findFreePort();
    try {
      let child = await spawnReady(port);
      const stop = async (): Promise<void> => {
        await killAndWait(child);
      };
      const start = async (): Promise<void> => {
        await killAndWait(child);
        child = await spawnReady(port);
      };
      return { url: `redis://127.0.0.1:${port}`, port, stop, start };
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error("could not start a private redis-server", { cause: lastError });
}

/** A port nobody listens on right now (another process may still take it: retry on failure). */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port assigned");
  return address.port;
}

/** Children still running, killed synchronously if the test process exits early. */
const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

async function spawnReady(port: number): Promise<ChildProcess> {
  const child = spawn(
    "redis-server",
    [
      "--port",
      String(port),
      "--bind",
      "127.0.0.1",
      "--save",
      "",
      "--appendonly",
      "no",
      // Nothing is written, but should a default change, keep files out of the checkout.
      "--dir",
      tmpdir(),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = once(child, "exit");
  running.add(child);
  child.once("exit", () => running.delete(child));

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
      await exited.catch(() => undefined);
      throw new Error(`redis-server on port ${port} exited: ${output.trim()}`);
    }
    if (await answersPing(port)) return child;
    await sleep(50);
  }
  await killAndWait(child);
  throw new Error(`redis-server on port ${port} did not answer PING: ${output.trim()}`);
}

/** One raw RESP PING, so the helper needs no client library and leaves no connection open. */
async function answersPing(port: number): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => finish(false));
    socket.once("error", () => finish(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes("\r\n")) finish(reply.startsWith("+PONG"));
    });
  });
}

async function killAndWait(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Deletes every key under `keyPrefix:` in the Redis at `url`: what a test left in a shared one. */
export async function deleteRedisKeys(url: string, keyPrefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${keyPrefix}:*`, "COUNT", 500);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/**
 * The pieces of the multi-instance test: Strongroom instances as real processes, Debian's
 * nginx in front of them terminating TLS with a certificate made for the test, and an HTTPS
 * client that trusts that certificate. Everything listens on loopback ports chosen at run
 * time and lives in one temporary directory.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { RunningProcess } from "../helpers/process.js";
import { startCli } from "../helpers/process.js";
import { findFreePort } from "../helpers/redis-server.js";

export { makeTestCertificate as makeCertificate } from "../helpers/tls.js";

export const NGINX = "/usr/sbin/nginx";

/** Why the cluster test cannot run here, or null when it can. */
export function clusterSkipReason(): string | null {
  if (!process.env.TEST_DATABASE_URL) return "TEST_DATABASE_URL not set: cluster test skipped";
  for (const [binary, args] of [
    [NGINX, ["-v"]],
    ["openssl", ["version"]],
    ["redis-server", ["--version"]],
  ] as const) {
    const probe = spawnSync(binary, [...args], { stdio: "ignore" });
    if (probe.error !== undefined || probe.status !== 0) {
      return `${binary} not available: cluster test skipped (apt-get install nginx-light openssl redis-server)`;
    }
  }
  return null;
}

/**
 * The nginx configuration of the worked example in docs/deployment.md, plus what a test
 * needs: its own prefix and temp paths, and an `X-Upstream` header saying which instance
 * answered. `X-Forwarded-For` is overwritten with the client's address (not appended to), so
 * whatever a client claims in its own header never reaches the instances.
 */
export function nginxConfig(options: {
  dir: string;
  port: number;
  upstreams: number[];
  cert: string;
  key: string;
}): string {
  const { dir } = options;
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/nginx-error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server_tokens off;

  upstream strongroom {
${options.upstreams.map((port) => `    server 127.0.0.1:${port} max_fails=0;`).join("\n")}
    keepalive 16;
  }

  server {
    listen 127.0.0.1:${options.port} ssl;
    ssl_certificate ${options.cert};
    ssl_certificate_key ${options.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers off;
    client_max_body_size 1m;

    location / {
      proxy_pass http://strongroom;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
      # Only connection failures move a request to the other instance: a request that
      # reached an instance is never sent twice.
      proxy_next_upstream error;
      add_header X-Upstream $upstream_addr always;
    }
  }
}
`;
}

/** A running nginx. */
export interface Nginx {
  port: number;
  stop(): Promise<void>;
}

export async function startNginx(options: {
  dir: string;
  upstreams: number[];
  cert: string;
  key: string;
}): Promise<Nginx> {
  const port = await findFreePort();
  const conf = join(options.dir, "nginx.conf");
  writeFileSync(conf, nginxConfig({ ...options, port }));
  const child = spawn(
    NGINX,
    ["-p", options.dir, "-c", conf, "-e", `${options.dir}/nginx-error.log`],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  await waitForPort(port, () => (child.exitCode !== null ? `nginx exited: ${stderr}` : null));
  return {
    port,
    stop: () => stopChild(child),
  };
}

async function waitForPort(port: number, failed: () => string | null): Promise<void> {
  const { connect } = await import("node:net");
  for (let i = 0; i < 100; i++) {
    const problem = failed();
    if (problem !== null) throw new Error(problem);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`nothing listens on ${port}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** One Strongroom instance: `strongroom serve` as its own process. */
export interface Instance {
  port: number;
  process: RunningProcess;
  stop(): Promise<void>;
}

export async function startInstance(
  env: NodeJS.ProcessEnv,
  cwd: string,
  port: number,
): Promise<Instance> {
  const running = startCli(["serve"], { ...env, PORT: String(port) }, cwd);
  // Ready when /readyz says so (the database answers), as a load balancer would see it.
  for (let i = 0; ; i++) {
    if (running.child.exitCode !== null) {
      throw new Error(
        `instance on ${port} exited (${running.child.exitCode}): ${running.stdout()} ${running.stderr()}`,
      );
    }
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) break;
    if (i > 300) throw new Error(`instance on ${port} never became ready: ${running.stderr()}`);
    await sleep(100);
  }
  return {
    port,
    process: running,
    stop: async () => {
      if (running.child.exitCode === null) running.child.kill("SIGTERM");
      await running.exited;
    },
  };
}

/** A response as the tests look at it. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  /** Which instance answered (`127.0.0.1:PORT`), from the proxy's X-Upstream header. */
  upstream: string;
  json<T = Record<string, unknown>>(): T;
}

/** An HTTPS client for the proxy that trusts the test certificate. */
export function httpsClient(options: { port: number; ca: Buffer }) {
  return (
    method: string,
    path: string,
    init: {
      headers?: Record<string, string>;
      body?: unknown;
      /** Source address of the connection (any 127.x.y.z works on Linux loopback). */
      localAddress?: string;
    } = {},
  ): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const payload = init.body === undefined ? undefined : JSON.stringify(init.body);
      const req = request(
        {
          host: "127.0.0.1",
          port: options.port,
          method,
          path,
          ca: options.ca,
          agent: false,
          ...(init.localAddress === undefined ? {} : { localAddress: init.localAddress }),
          headers: {
            ...(payload === undefined
              ? {}
              : {
                  "content-type": "application/json",
                  "content-length": Buffer.byteLength(payload),
                }),
            ...init.headers,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const body = Buffer.concat(chunks).toString("utf8");
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body,
              upstream: String(res.headers["x-upstream"] ?? ""),
              json: () => JSON.parse(body),
            });
          });
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
}

/** A temporary directory and strong keys for one cluster. */
export function clusterSecrets(): {
  dir: string;
  secretKey: string;
  masterKey: (id: string) => string;
} {
  const dir = mkdtempSync(join(tmpdir(), "strongroom-cluster-"));
  const keys = new Map<string, string>();
  return {
    dir,
    secretKey: randomBytes(32).toString("base64url"),
    masterKey: (id) => {
      const existing = keys.get(id);
      if (existing !== undefined) return existing;
      const entry = `${id}:${randomBytes(32).toString("base64")}`;
      keys.set(id, entry);
      return entry;
    },
  };
}

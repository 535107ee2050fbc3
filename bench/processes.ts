/**
 * The processes under test: the real server (`bin/strongroom.js serve`, exactly what
 * `npm start` runs) and the bare Fastify baseline, each on a free loopback port, with their
 * resident memory read from /proc (Linux) while they run.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const LAUNCHER = fileURLToPath(new URL("../bin/strongroom.js", import.meta.url));
const BARE = fileURLToPath(new URL("./bare-server.ts", import.meta.url));

export interface Running {
  baseUrl: string;
  pid: number;
  /** Seconds from spawning the process to its first 200 from the ready probe. */
  startupSeconds: number;
  /** Resident memory now, in MiB. */
  rssMiB(): number;
  stop(): Promise<void>;
}

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Resident set size of `pid` in MiB (VmRSS in /proc/PID/status). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (match?.[1] === undefined) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) / 1024;
}

/**
 * Samples a process's resident memory every 20 ms while `work` runs and returns the highest
 * reading with `work`'s result.
 */
export async function withPeakMemory<T>(
  running: Pick<Running, "rssMiB">,
  work: () => Promise<T>,
): Promise<{ result: T; peakMiB: number }> {
  let peak = running.rssMiB();
  const timer = setInterval(() => {
    peak = Math.max(peak, running.rssMiB());
  }, 20);
  try {
    const result = await work();
    peak = Math.max(peak, running.rssMiB());
    return { result, peakMiB: peak };
  } finally {
    clearInterval(timer);
  }
}

async function launch(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  readyPath: string,
  port: number,
): Promise<Running> {
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd,
    env: { PATH: process.env.PATH, ...env, PORT: String(port) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const baseUrl = `http://127.0.0.1:${port}`;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`${args.join(" ")} exited before it was ready: ${stderr}`);
    const ready = await fetch(`${baseUrl}${readyPath}`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) break;
    if (performance.now() - started > 60_000) {
      child.kill("SIGKILL");
      throw new Error(`${args.join(" ")} was not ready within 60 s: ${stderr}`);
    }
    await sleep(5);
  }
  const startupSeconds = (performance.now() - started) / 1000;
  const pid = child.pid;
  if (pid === undefined) throw new Error("no pid");
  return {
    baseUrl,
    pid,
    startupSeconds,
    rssMiB: () => rssMiB(pid),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Starts `strongroom serve` with exactly `env` (and PATH) in `cwd`; ready at `/readyz` 200. */
export async function startStrongroom(env: NodeJS.ProcessEnv, cwd: string): Promise<Running> {
  return launch([LAUNCHER, "serve"], env, cwd, "/readyz", await freePort());
}

/** Starts the baseline: a bare Fastify app answering `{"ok":true}` at `/`. */
export async function startBareFastify(): Promise<Running> {
  return launch(["--import", "tsx", BARE], { NODE_ENV: "production" }, ROOT, "/", await freePort());
}

/**
 * A private PostgreSQL server that a test may stop and start (a restart, an outage): its own
 * data directory under the system temp dir and its own port, never the shared server.
 * Tuned for speed against a machine crash (`initdb --no-sync`, `fsync=off`), but not against
 * a crash of the server alone: commits are synchronous, so an `immediate` stop (a crash)
 * loses no acknowledged commit, as in production.
 *
 * PostgreSQL refuses to run as root, so as root (CI) `initdb`, `pg_ctl` and the server run
 * as the `postgres` OS user through `runuser`, in a directory handed to that user.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A running private server. */
export interface PostgresCluster {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres`. */
  url: string;
  /** The superuser's password, which must never show up in the application's output. */
  password: string;
  port: number;
  /** Starts the server again after {@link PostgresCluster.stop}; resolves once it accepts connections. */
  start(): Promise<void>;
  /**
   * `pg_ctl stop`, by default `-m fast`: ends every session (clients see 57P01), then shuts
   * down cleanly. `immediate` quits at once, as a crash would, and recovers at the next start.
   */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** Stops the server if it runs and deletes its directory. */
  destroy(): Promise<void>;
}

interface Toolchain {
  binDir: string;
  /** Prefix for every command: `runuser -u postgres --` as root, nothing otherwise. */
  asUser: string[];
  /** Who must own the cluster's directory, as root. */
  owner: { uid: number; gid: number } | null;
}

/** Where initdb is: Debian's newest /usr/lib/postgresql/N/bin, else the PATH. */
function findBinDir(): string | null {
  const debian = "/usr/lib/postgresql";
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((name) => /^\d+$/.test(name))
      .sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      const dir = join(debian, version, "bin");
      if (existsSync(join(dir, "initdb"))) return dir;
    }
  }
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (dir !== "" && existsSync(join(dir, "initdb")) && existsSync(join(dir, "pg_ctl")))
      return dir;
  }
  return null;
}

/** The `postgres` OS user's ids, from /etc/passwd. */
function postgresUser(): { uid: number; gid: number } | null {
  try {
    const line = readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .find((entry) => entry.startsWith("postgres:"));
    const [, , uid, gid] = line?.split(":") ?? [];
    return uid === undefined || gid === undefined ? null : { uid: Number(uid), gid: Number(gid) };
  } catch {
    return null;
  }
}

let toolchain: Toolchain | string | undefined;

/** What is needed to run a private server here, or why it cannot be done (a skip reason). */
function findToolchain(): Toolchain | string {
  if (toolchain !== undefined) return toolchain;
  const binDir = findBinDir();
  if (binDir === null) {
    toolchain = "PostgreSQL server binaries (initdb, pg_ctl) not installed: restart tests skipped";
  } else if (process.getuid?.() !== 0) {
    toolchain = { binDir, asUser: [], owner: null };
  } else {
    const owner = postgresUser();
    toolchain =
      owner === null || !existsSync("/usr/sbin/runuser")
        ? "running as root without a postgres user and runuser: restart tests skipped"
        : { binDir, asUser: ["/usr/sbin/runuser", "-u", "postgres", "--"], owner };
  }
  return toolchain;
}

/** Why a private server cannot be started here (to skip with), or null when it can. */
export function postgresClusterSkipReason(): string | null {
  const found = findToolchain();
  return typeof found === "string" ? found : null;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/**
 * Creates, starts and returns a private server with password authentication over TCP.
 *
 * @throws {Error} when {@link postgresClusterSkipReason} gives a reason, or a command fails.
 */
export async function startPostgresCluster(): Promise<PostgresCluster> {
  const tools = findToolchain();
  if (typeof tools === "string") throw new Error(tools);
  const dir = mkdtempSync(join(tmpdir(), "strongroom-pg-"));
  const data = join(dir, "data");
  const password = randomBytes(12).toString("hex");
  writeFileSync(join(dir, "password"), password, { mode: 0o600 });
  if (tools.owner !== null) {
    for (const path of [dir, join(dir, "password")])
      chownSync(path, tools.owner.uid, tools.owner.gid);
  }
  const pg = async (command: string, args: string[]): Promise<void> => {
    const [file = "", ...prefix] = [...tools.asUser, join(tools.binDir, command)];
    await run(file, [...prefix, ...args]);
  };
  const port = await freePort();
  const settings = [
    `-p ${port}`,
    `-k ${dir}`,
    "-c listen_addresses=127.0.0.1",
    "-c fsync=off",
    "-c full_page_writes=off",
  ].join(" ");
  const start = async (): Promise<void> => {
    await pg("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-w", "-o", settings, "start"]);
  };
  const stop = async (mode: "fast" | "immediate" = "fast"): Promise<void> => {
    await pg("pg_ctl", ["-D", data, "-m", mode, "-w", "stop"]);
  };
  // Whatever state it is in, even half made: pg_ctl just fails when nothing runs.
  const destroy = async (): Promise<void> => {
    await stop("immediate").catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await pg("initdb", [
      "--no-sync",
      "--no-instructions",
      "-D",
      data,
      "-U",
      "postgres",
      "-E",
      "UTF8",
      "--no-locale",
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      `--pwfile=${join(dir, "password")}`,
    ]);
    await start();
  } catch (error) {
    await destroy();
    throw error;
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    password,
    port,
    start,
    stop,
    destroy,
  };
}

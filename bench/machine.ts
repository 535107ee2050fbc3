/**
 * Measurements of the machine itself, the limits the server is compared against: the raw
 * Argon2id hash rate, and a description of the hardware for the report.
 */
import { availableParallelism, cpus, totalmem } from "node:os";
import type { Config } from "../src/config/config.js";
import { hashPassword } from "../src/crypto/passwords.js";

/**
 * Argon2id hashes per second this machine computes with the server's parameters, hashing
 * with as many in flight as libuv's thread pool runs at once (what the server's logins can
 * use at most), for `seconds`.
 */
export async function argon2Rate(argon2: Config["argon2"], seconds: number): Promise<number> {
  const inFlight = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        await hashPassword("violet-lantern-orbit-29-quartz", argon2);
        done += 1;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

/** One line describing the machine, for the report. */
export function describeMachine(): string {
  const model = cpus()[0]?.model.trim() ?? "unknown CPU";
  const memory = (totalmem() / 2 ** 30).toFixed(0);
  return `${availableParallelism()} × ${model}, ${memory} GiB, Node ${process.version}, ${process.platform}`;
}

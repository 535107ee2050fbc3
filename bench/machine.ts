/**
 * Measurements of the machine itself, the limits the server is compared against: the raw
 * Argon2id hash rate, and a description of the hardware for the report.
 */
import { randomBytes } from "node:crypto";
import { availableParallelism, cpus, totalmem } from "node:os";
import { type Algorithm, hash } from "@node-rs/argon2";
import type { Config } from "../src/config/config.js";

/**
 * Argon2id hashes per second this machine computes with the server's parameters: the
 * library itself (@node-rs/argon2 on libuv's thread pool, no worker threads, no priorities),
 * twice as many in flight as there are cores, for `seconds`.
 */
export async function argon2Rate(argon2: Config["argon2"], seconds: number): Promise<number> {
  const inFlight = 2 * availableParallelism();
  const options = {
    algorithm: 2 as Algorithm.Argon2id,
    memoryCost: argon2.memoryKiB,
    timeCost: argon2.iterations,
    parallelism: argon2.parallelism,
    outputLen: 32,
  };
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let done = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        await hash("violet-lantern-orbit-29-quartz", { ...options, salt: randomBytes(16) });
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

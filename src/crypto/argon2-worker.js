// The task run by the Argon2id worker threads (see argon2-pool.ts). Plain JavaScript so the
// same file loads from src/ (through tsx) and from dist/ (scripts/build.js copies it), in
// threads that tsx's loader does not reach.
import { hashSync, verifySync } from "@node-rs/argon2";

/**
 * `{ op: "hash", password, options }` → the PHC string;
 * `{ op: "verify", stored, password }` → whether the password matches (throws on a hash the
 * library cannot decode, as its verify does).
 */
export default function argon2Task(task) {
  if (task.op === "hash") return hashSync(task.password, task.options);
  if (task.op === "verify") return verifySync(task.stored, task.password);
  throw new Error("unknown Argon2 task");
}

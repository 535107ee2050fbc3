import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import {
  ARGON2_NICE_INCREMENT,
  argon2Hash,
  argon2TasksCompleted,
  argon2Verify,
  closeArgon2Pool,
  hashingPriorityLowered,
} from "./argon2-pool.js";

const OPTIONS = {
  algorithm: 2, // Argon2id
  version: 1, // 0x13
  memoryCost: 19456,
  timeCost: 2,
  parallelism: 1,
  outputLen: 32,
  salt: new Uint8Array(16).fill(7),
};

/** The nice value of each thread of this process (Linux: field 19 of /proc/self/task/N/stat). */
function threadNiceValues(): number[] {
  return readdirSync("/proc/self/task").map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
  });
}

test("hashes and verifies on the pool like the library does", async () => {
  const password = new TextEncoder().encode("violet-lantern-orbit-29-quartz");
  const before = argon2TasksCompleted();
  const stored = await argon2Hash(password, OPTIONS);
  assert.match(stored, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$BwcHBwcHBwcHBwcHBwcHBw\$/);
  assert.equal(await argon2Verify(stored, password), true);
  assert.equal(await argon2Verify(stored, new TextEncoder().encode("wrong")), false);
  await assert.rejects(argon2Verify("$argon2id$garbage", password));
  assert.equal(argon2TasksCompleted() - before, 4);
});

test("the hashing threads run below the event loop's priority", async () => {
  await argon2Hash(new Uint8Array([1]), OPTIONS);
  const nice = threadNiceValues();
  // The event loop's thread (the process's first) keeps its priority; the pool's are lowered.
  const main = nice[0] ?? 0;
  const lowered = Math.min(19, main + ARGON2_NICE_INCREMENT);
  assert.ok(nice.includes(lowered), `thread nice values: ${nice.join(",")}`);
  assert.equal(nice.filter((value) => value === main).length >= 1, true);
});

test("a closed pool starts again on the next hash", async () => {
  await closeArgon2Pool();
  assert.equal(argon2TasksCompleted(), 0);
  assert.match(await argon2Hash(new Uint8Array([2]), OPTIONS), /^\$argon2id\$/);
  await closeArgon2Pool();
});

test("says whether the hashing threads can be lowered, and no when @napi-rs/nice is missing", () => {
  assert.equal(hashingPriorityLowered(), true, "installed here, as the lock file has it");
  const missing = () => {
    throw Object.assign(new Error("Cannot find module '@napi-rs/nice'"), {
      code: "MODULE_NOT_FOUND",
    });
  };
  assert.equal(hashingPriorityLowered(missing), false);
  assert.equal(
    hashingPriorityLowered(() => ({})),
    false,
    "a module without nice()",
  );
});

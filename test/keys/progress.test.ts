import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  createProgressReporter,
  describeRotation,
  formatProgress,
} from "../../src/cli/keys.commands.js";

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const stream = {
    isTTY,
    write: (chunk: string) => {
      written.push(chunk);
      return true;
    },
  } as unknown as NodeJS.WriteStream;
  return { stream, written };
}

describe("keys rotate progress", () => {
  it("formats a bar, counts, percent and rate", () => {
    assert.equal(formatProgress(1500, 5000, 625, 10), "[###-------] 1500/5000  30%  2400 rows/s");
    assert.equal(formatProgress(0, 0, 0, 4), "[####] 0/0  100%  0 rows/s");
    assert.equal(formatProgress(7, 5, 1000, 0), "7/5  100%  7 rows/s", "never past 100%");
  });

  it("redraws one line on a terminal, at most ten times a second", () => {
    let clock = 0;
    const { stream, written } = fakeStream(true);
    const progress = createProgressReporter(stream, () => clock);
    clock = 50;
    progress.update(10, 100);
    clock = 60;
    progress.update(20, 100); // within 100 ms of the last draw: skipped
    clock = 200;
    progress.update(50, 100);
    progress.finish();
    assert.equal(written.length, 4);
    assert.ok(written.slice(0, 3).every((line) => line.startsWith("\r")));
    assert.match(written[0] ?? "", /10\/100 {2}10%/);
    assert.match(written[1] ?? "", /50\/100 {2}50%/);
    assert.match(written[2] ?? "", /50\/100 {2}50% {2}250 rows\/s/);
    assert.equal(written[3], "\n");
  });

  it("writes only a plain final line elsewhere", () => {
    let clock = 0;
    const { stream, written } = fakeStream(false);
    const progress = createProgressReporter(stream, () => clock);
    progress.update(10, 20);
    clock = 1000;
    progress.update(20, 20);
    progress.finish();
    assert.deepEqual(written, ["checked 20/20  100%  20 rows/s\n"]);
  });

  it("summarises failures, interruptions and rows left behind", () => {
    const base = {
      keyId: "k2",
      rewrapped: 5,
      skipped: 1,
      failed: [],
      total: 6,
      remaining: 0,
      interrupted: false,
    };
    assert.match(describeRotation(base, false).join("\n"), /can now be removed/);
    const failed = describeRotation({ ...base, failed: ["a", "b"], remaining: 2 }, true);
    assert.match(failed.join("\n"), /2 could not be decrypted .*: a, b/);
    assert.match(failed.join("\n"), /keep the old key and run again/);
    assert.match(
      describeRotation({ ...base, interrupted: true, remaining: 3 }, false).join("\n"),
      /interrupted: run `strongroom keys rotate` again/,
    );
  });
});

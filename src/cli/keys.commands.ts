import type { Command } from "commander";
import { loadConfig } from "../config/config.js";
import { generateMasterKeyEntry, generateSecretKeyText } from "../config/keys.js";
import { openDatabase } from "../db/database.js";
import { migrateToLatest } from "../db/migrate.js";
import type { RotateKeysResult } from "../keys/index.js";
import { ROTATION_BATCH_SIZE, rotateKeys } from "../keys/index.js";
import { EXIT, reportAndExit } from "./errors.js";

/** A default id for a new master key: `k` and today's date, e.g. `k20261128`. */
export function defaultMasterKeyId(now: Date): string {
  return `k${now.toISOString().slice(0, 10).replaceAll("-", "")}`;
}

/** `strongroom keys generate` and `strongroom keys rotate`. */
export function registerKeysCommands(program: Command): void {
  const keys = program.command("keys").description("manage encryption keys");
  keys
    .command("generate")
    .description("print a new MASTER_KEY entry (id:base64key), or with --secret a new SECRET_KEY")
    .option("--id <id>", "id of the new master key (1–32 of A-Z a-z 0-9 _ -)")
    .option("--secret", "print a SECRET_KEY value instead")
    .action((options: { id?: string; secret?: boolean }) => {
      if (options.secret === true) {
        process.stdout.write(`${generateSecretKeyText()}\n`);
        return;
      }
      const id = options.id ?? defaultMasterKeyId(new Date());
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(id)) {
        process.stderr.write("strongroom: keys generate: --id must be 1–32 of A-Z a-z 0-9 _ -\n");
        process.exit(2);
      }
      process.stdout.write(`${generateMasterKeyEntry(id)}\n`);
      if (process.stderr.isTTY) {
        process.stderr.write(
          "Put it first in MASTER_KEY to make it current; keep the old entries until `keys rotate` has run.\n",
        );
      }
    });

  keys
    .command("rotate")
    .description(
      "rewrap every data key under the current (first) MASTER_KEY entry; resumable, runs while serving",
    )
    .option("--reencrypt", "also replace data keys and ciphertexts (same plaintext)")
    .option(
      "--batch-size <n>",
      "rows per batch and transaction (1–10000)",
      `${ROTATION_BATCH_SIZE}`,
    )
    .action(async (options: { reencrypt?: boolean; batchSize: string }) => {
      const batchSize = Number(options.batchSize);
      if (!/^[0-9]{1,5}$/.test(options.batchSize) || batchSize < 1 || batchSize > 10_000) {
        process.stderr.write("strongroom: keys rotate: --batch-size must be 1–10000\n");
        process.exit(EXIT.usage);
      }
      await runRotate({ reencrypt: options.reencrypt === true, batchSize });
    });
}

async function runRotate(options: { reencrypt: boolean; batchSize: number }): Promise<void> {
  // The first Ctrl-C finishes the batch in flight and stops cleanly (a rerun resumes); a
  // second one kills the process at once, which is also safe: the open batch rolls back.
  const stop = new AbortController();
  const onInterrupt = (): void => {
    process.stderr.write("\nstopping after this batch (Ctrl-C again to quit at once)\n");
    stop.abort();
    process.off("SIGINT", onInterrupt);
  };
  process.on("SIGINT", onInterrupt);
  const progress = createProgressReporter(process.stderr);
  let result: RotateKeysResult;
  try {
    const { config } = loadConfig(process.env, process.cwd());
    const database = await openDatabase(config.database);
    try {
      await migrateToLatest(database.db);
      result = await rotateKeys(database.db, config.masterKeys, {
        ...options,
        signal: stop.signal,
        actor: { id: null, name: "cli", address: null },
        onProgress: progress.update,
      });
    } finally {
      await database.close();
    }
  } catch (error) {
    progress.abandon();
    reportAndExit(error, "keys rotate");
  } finally {
    process.off("SIGINT", onInterrupt);
  }
  progress.finish();
  for (const line of describeRotation(result, options.reencrypt)) process.stdout.write(`${line}\n`);
  if (result.interrupted)
    process.exitCode = 130; // the shell convention for "stopped by SIGINT"
  else if (result.failed.length > 0 || result.remaining > 0) process.exitCode = EXIT.failure;
  else process.exitCode = EXIT.ok;
}

/** The summary lines of a rotation, for standard output. */
export function describeRotation(result: RotateKeysResult, reencrypt: boolean): string[] {
  const verb = reencrypt ? "re-encrypted" : "rewrapped";
  const lines = [
    `${verb} ${result.rewrapped} of ${result.total} under key "${result.keyId}"; ` +
      `${result.skipped} already current or changed meanwhile`,
  ];
  if (result.failed.length > 0) {
    const shown = result.failed.slice(0, 10).join(", ");
    const more = result.failed.length > 10 ? ` and ${result.failed.length - 10} more` : "";
    lines.push(
      `${result.failed.length} could not be decrypted and were left as they are: ${shown}${more}`,
    );
  }
  if (result.interrupted) {
    lines.push("interrupted: run `strongroom keys rotate` again to finish");
  } else if (result.remaining > 0) {
    lines.push(
      `${result.remaining} still under an old key (written by an instance without the new key first?): ` +
        "keep the old key and run again",
    );
  } else {
    lines.push(
      `every item is under "${result.keyId}": older MASTER_KEY entries can now be removed`,
    );
  }
  return lines;
}

/**
 * Progress on `stream`: on a terminal, one line redrawn in place (a bar, done/total, percent
 * and rows per second), at most ten times a second; otherwise only a plain final line that
 * starts with `label`, so logs of scripted runs stay readable.
 */
export function createProgressReporter(
  stream: NodeJS.WriteStream,
  now: () => number = () => performance.now(),
  label = "checked",
): { update(done: number, total: number): void; finish(): void; abandon(): void } {
  const startedMs = now();
  let last = { done: 0, total: 0 };
  let drawnMs = Number.NEGATIVE_INFINITY;
  let drawn = false;
  const draw = (): void => {
    stream.write(`\r${formatProgress(last.done, last.total, now() - startedMs)}\x1b[K`);
    drawn = true;
  };
  return {
    update(done, total) {
      last = { done, total };
      if (stream.isTTY !== true || now() - drawnMs < 100) return;
      drawnMs = now();
      draw();
    },
    finish() {
      if (stream.isTTY === true) {
        draw();
        stream.write("\n");
      } else {
        stream.write(`${label} ${formatProgress(last.done, last.total, now() - startedMs, 0)}\n`);
      }
    },
    abandon() {
      if (drawn) stream.write("\n");
    },
  };
}

/**
 * One progress line, e.g. `[######------------] 1500/5000  30%  2400 rows/s`, with a bar of
 * `barWidth` cells (0: no bar). `elapsedMs` is the time since the start.
 */
export function formatProgress(
  done: number,
  total: number,
  elapsedMs: number,
  barWidth = 24,
): string {
  const fraction = total > 0 ? Math.min(done / total, 1) : 1;
  const filled = Math.round(fraction * barWidth);
  const bar = barWidth > 0 ? `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}] ` : "";
  const rate = elapsedMs > 0 ? Math.round((done * 1000) / elapsedMs) : 0;
  return `${bar}${done}/${total}  ${Math.floor(fraction * 100)}%  ${rate} rows/s`;
}

import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const CLI = fileURLToPath(new URL("../../bin/strongroom.js", import.meta.url));

export interface RunningProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /**
   * Resolves with the first stdout/stderr text matching `pattern`; rejects after `timeoutMs`
   * (default 60 s: a guard against hangs, generous for a loaded two-core CI machine).
   */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

/** Runs `strongroom ARGS…` as a real process with exactly `env` (plus PATH) in `cwd`. */
export function startCli(args: string[], env: NodeJS.ProcessEnv, cwd: string): RunningProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd,
    env: { PATH: process.env.PATH, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const waiters: Array<() => void> = [];
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    for (const wake of waiters) wake();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    err += chunk.toString();
    for (const wake of waiters) wake();
  });
  // "close", not "exit": "exit" can come before the last of stdout and stderr has been read
  // from the pipes, and a caller would then see the exit code without the output (CI once
  // saw `audit verify` exit 1 with an empty stdout that way, on a loaded machine).
  const exited = new Promise<number | string>((resolve) => {
    child.on("close", (code, signal) => resolve(code ?? signal ?? "unknown"));
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const match = pattern.exec(out) ?? pattern.exec(err);
          if (match) {
            clearTimeout(timer);
            resolve(match);
            return true;
          }
          return false;
        };
        const timer = setTimeout(
          () =>
            reject(new Error(`timed out waiting for ${pattern}; stdout: ${out}; stderr: ${err}`)),
          timeoutMs,
        );
        if (!check()) waiters.push(() => void check());
        void exited.then(() => {
          if (!check()) {
            clearTimeout(timer);
            reject(new Error(`process exited before ${pattern}; stdout: ${out}; stderr: ${err}`));
          }
        });
      });
    },
  };
}

/** Runs a CLI command to completion. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  stdin?: string,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const running = startCli(args, env, cwd);
  running.child.stdin?.end(stdin ?? "");
  const code = await running.exited;
  return { code, stdout: running.stdout(), stderr: running.stderr() };
}

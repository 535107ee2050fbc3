import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseEnv } from "node:util";

/** Where a configuration value came from; `doctor` reports it. */
export type ValueSource = "environment" | "file" | "dotenv" | "generated" | "default";

export interface RawSettings {
  /** Variable name → value; empty values are treated as unset. */
  values: Map<string, string>;
  sources: Map<string, ValueSource>;
  /** Problems reading the sources, as `[variable, message]`. */
  problems: Array<[string, string]>;
}

/**
 * Variables that may carry credentials and so may be given as `NAME_FILE`, a path whose
 * contents are the value (Docker and Kubernetes secrets). SPEC §2 names the two keys; the
 * URLs that embed passwords and the metrics scraper's token get the same treatment.
 */
export const FILE_VARIABLES = [
  "SECRET_KEY",
  "MASTER_KEY",
  "DATABASE_URL",
  "REDIS_URL",
  "SMTP_URL",
  "METRICS_TOKEN",
] as const;

/**
 * Merges the process environment over a `.env` file in `cwd` (the environment wins), then
 * resolves every `NAME_FILE` variant. Setting both `NAME` and `NAME_FILE` is a problem, since
 * one would silently shadow the other. Reads files synchronously: this runs once at start.
 */
export function readRawSettings(env: NodeJS.ProcessEnv, cwd: string): RawSettings {
  const values = new Map<string, string>();
  const sources = new Map<string, ValueSource>();
  const problems: Array<[string, string]> = [];

  let dotenv: Record<string, string | undefined> = {};
  try {
    dotenv = parseEnv(readFileSync(resolve(cwd, ".env"), "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      problems.push([".env", "cannot be read"]);
    }
  }

  for (const [name, value] of Object.entries(dotenv)) {
    if (value !== undefined && value !== "") {
      values.set(name, value);
      sources.set(name, "dotenv");
    }
  }
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value !== "") {
      values.set(name, value);
      sources.set(name, "environment");
    }
  }

  for (const name of FILE_VARIABLES) {
    const filePath = values.get(`${name}_FILE`);
    if (filePath === undefined) continue;
    if (values.has(name)) {
      problems.push([name, `set both ${name} and ${name}_FILE; keep one`]);
      continue;
    }
    try {
      const contents = readFileSync(resolve(cwd, filePath), "utf8").trim();
      if (contents === "") {
        problems.push([`${name}_FILE`, `${filePath} is empty`]);
      } else {
        values.set(name, contents);
        sources.set(name, "file");
      }
    } catch {
      problems.push([`${name}_FILE`, `cannot read ${filePath}`]);
    }
  }

  return { values, sources, problems };
}

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { SecretBytes } from "../lib/secret-bytes.js";
import type { ConfigIssue } from "./config.js";
import type { KeyProblem, MasterKey } from "./keys.js";
import {
  generateMasterKeyEntry,
  generateSecretKeyText,
  parseMasterKeys,
  parseSecretKey,
  readOrCreateKeyFile,
} from "./keys.js";
import type { RawSettings, ValueSource } from "./sources.js";

interface KeyOptions {
  production: boolean;
  dataDir: string;
  /** Write missing development key files (false: only read existing ones). */
  createMissing: boolean;
}

interface ResolvedKeys {
  secretKey: SecretBytes | null;
  masterKeys: MasterKey[];
  issues: ConfigIssue[];
  sources: Map<string, ValueSource>;
}

const KEY_FILES = { SECRET_KEY: "secret_key", MASTER_KEY: "master_key" } as const;

/**
 * Finds `SECRET_KEY` and `MASTER_KEY`. Production requires both from the environment and
 * refuses weak ones. Development and test fall back to key files in `./data` (created 0600
 * on first start) and only warn about weak keys, so a newcomer can start with no setup.
 * Invalid keys (wrong encoding or length) are refused everywhere.
 */
export function resolveKeys(raw: RawSettings, options: KeyOptions): ResolvedKeys {
  const issues: ConfigIssue[] = [];
  const sources = new Map<string, ValueSource>();
  const report = (problem: KeyProblem): void => {
    const severity = problem.kind === "invalid" || options.production ? "error" : "warning";
    issues.push({ variable: problem.variable, severity, message: problem.message });
  };

  const texts: Partial<Record<keyof typeof KEY_FILES, string>> = {};
  for (const variable of ["SECRET_KEY", "MASTER_KEY"] as const) {
    const fromEnvironment = raw.values.get(variable);
    if (fromEnvironment !== undefined) {
      texts[variable] = fromEnvironment;
      continue;
    }
    if (options.production) {
      issues.push({
        variable,
        severity: "error",
        message: "is required in production (see `strongroom keys generate`)",
      });
      continue;
    }
    const fileName = KEY_FILES[variable];
    const create =
      variable === "SECRET_KEY" ? generateSecretKeyText : () => generateMasterKeyEntry("dev1");
    const path = join(options.dataDir, fileName);
    if (!options.createMissing) {
      if (existsSync(path)) {
        texts[variable] = readFileSync(path, "utf8").trim();
        sources.set(variable, "generated");
      } else {
        // Looking only (doctor): check the rest with a throwaway key that is never stored.
        texts[variable] = create();
        sources.set(variable, "generated");
        issues.push({
          variable,
          severity: "warning",
          message: `not set: a development key will be created in ${path}`,
        });
      }
      continue;
    }
    const file = readOrCreateKeyFile(options.dataDir, fileName, create);
    texts[variable] = file.text;
    sources.set(variable, "generated");
    if (file.problem !== null) issues.push({ variable, severity: "error", message: file.problem });
    issues.push({
      variable,
      severity: "warning",
      message: `not set: using the development key in ${path}${file.created ? " (just created)" : ""}; never use it in production`,
    });
  }

  let secretKey: SecretBytes | null = null;
  if (texts.SECRET_KEY !== undefined) {
    const parsed = parseSecretKey(texts.SECRET_KEY);
    parsed.problems.forEach(report);
    secretKey = parsed.key;
  }
  let masterKeys: MasterKey[] = [];
  if (texts.MASTER_KEY !== undefined) {
    const parsed = parseMasterKeys(texts.MASTER_KEY);
    parsed.problems.forEach(report);
    masterKeys = parsed.keys;
  }

  // One key for two jobs would let a MAC oracle or a leak of one expose the other.
  if (
    secretKey !== null &&
    masterKeys.some((master) => master.key.reveal().equals(secretKey.reveal()))
  ) {
    issues.push({
      variable: "SECRET_KEY",
      severity: "error",
      message: "must differ from every MASTER_KEY key",
    });
  }
  if (
    masterKeys.length === 0 &&
    texts.MASTER_KEY !== undefined &&
    !issues.some((i) => i.variable === "MASTER_KEY")
  ) {
    issues.push({ variable: "MASTER_KEY", severity: "error", message: "holds no keys" });
  }
  return { secretKey: masterKeys.length > 0 ? secretKey : null, masterKeys, issues, sources };
}

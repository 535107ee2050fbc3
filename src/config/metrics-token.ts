import { SecretBytes } from "../lib/secret-bytes.js";
import type { ConfigIssue } from "./config.js";
import { decodeKeyText, describePlaceholder } from "./key-strength.js";
import type { MasterKey } from "./keys.js";

/** Shortest `METRICS_TOKEN` production accepts, in characters (`openssl rand -hex 32` gives 64). */
export const MIN_METRICS_TOKEN_LENGTH = 32;
/** Longest `METRICS_TOKEN`, in characters: it travels in a request header. */
export const MAX_METRICS_TOKEN_LENGTH = 1024;

/** Printable ASCII without spaces: what fits in `Authorization: Bearer <token>` as one word. */
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

interface MetricsTokenOptions {
  production: boolean;
  /** The keys already resolved: the token must not reuse one of them. */
  secretKey: SecretBytes | null;
  masterKeys: readonly MasterKey[];
}

/**
 * Checks `METRICS_TOKEN`, the bearer token a Prometheus scraper sends for `/metrics`. Unset
 * means metrics are off (the route does not exist). A token that cannot be sent in a header,
 * or that reuses `SECRET_KEY` or a master key (scrape configs are copied around far more
 * freely than keys), is refused everywhere; a short or placeholder one is refused in
 * production and only warned about elsewhere, like the keys. Messages never echo the token.
 */
export function resolveMetricsToken(
  text: string | undefined,
  options: MetricsTokenOptions,
): { token: SecretBytes | null; issues: ConfigIssue[] } {
  if (text === undefined) return { token: null, issues: [] };
  const issues: ConfigIssue[] = [];
  const problem = (severity: ConfigIssue["severity"], message: string): void => {
    issues.push({ variable: "METRICS_TOKEN", severity, message });
  };
  const weak = options.production ? "error" : "warning";

  if (!TOKEN_PATTERN.test(text) || text.length > MAX_METRICS_TOKEN_LENGTH) {
    problem(
      "error",
      `must be 1-${MAX_METRICS_TOKEN_LENGTH} printable ASCII characters without spaces`,
    );
    return { token: null, issues };
  }
  if (text.length < MIN_METRICS_TOKEN_LENGTH) {
    problem(
      weak,
      `is ${text.length} characters; at least ${MIN_METRICS_TOKEN_LENGTH} are required (e.g. \`openssl rand -hex 32\`)`,
    );
  } else {
    const placeholder = describePlaceholder(text);
    if (placeholder !== null) problem(weak, placeholder);
  }
  const bytes = decodeKeyText(text);
  const keys = [options.secretKey, ...options.masterKeys.map((master) => master.key)];
  if (bytes !== null && keys.some((key) => key?.reveal().equals(bytes) === true)) {
    problem("error", "must differ from SECRET_KEY and every MASTER_KEY key");
  }
  return { token: new SecretBytes(Buffer.from(text, "utf8")), issues };
}

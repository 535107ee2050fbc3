/**
 * Settings that would make the TLS clients of PostgreSQL, Redis or mail connect without
 * checking the server's certificate (ASVS 5.0 12.3.2): refused in production, a warning
 * elsewhere. Only settings the drivers really honour are listed; each was traced through the
 * installed driver, `tls-verification.test.ts` holds the check to the drivers' own parsing,
 * and `test/backend-tls.test.ts` connects with them to a fake server:
 *
 * - pg (`DATABASE_URL`): `sslmode=no-verify` and `ssl=no-verify` turn verification off;
 *   with `uselibpqcompat=true`, `sslmode=prefer` and `require` turn it off (`require` with
 *   `sslrootcert=` keeps the CA check but drops the host-name check), and `verify-ca` drops the
 *   host-name check. `PGSSLMODE=no-verify` does the same for a URL that says nothing about TLS.
 * - ioredis (`REDIS_URL`): it would take every query parameter as a client option winning
 *   over Strongroom's (an empty `tls=` even drops TLS), so the client is never given the query
 *   and the configuration refuses a REDIS_URL that has one (config.ts), in every environment.
 * - nodemailer (`SMTP_URL`): the mailer refuses any query string, so none can.
 * - Node itself: `NODE_TLS_REJECT_UNAUTHORIZED=0` turns verification off for every client.
 *
 * Messages are fixed sentences naming the parameter, never the URL (it carries a password).
 */
import { isLoopbackHost } from "../lib/loopback.js";

/** One problem, keyed by the variable it belongs to. */
export interface TlsVerificationProblem {
  variable: string;
  message: string;
}

const FIX_DATABASE =
  "use sslmode=verify-full, with sslrootcert=/path/ca.pem for a private CA (docs/deployment.md)";

/**
 * Why `DATABASE_URL` would let pg connect to a server without verifying its certificate and
 * host name, or null when it would not (or is not a PostgreSQL URL at all: a malformed one
 * is reported by the URL parser). Conservative: every value of a repeated parameter counts,
 * and values are compared without case, although pg takes the last one and is exact.
 */
export function postgresUrlSkipsVerification(url: string): string | null {
  if (!URL.canParse(url)) return null;
  const parsed = new URL(url);
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") return null;
  const values = (name: string): string[] =>
    parsed.searchParams.getAll(name).map((value) => value.trim().toLowerCase());
  const sslmodes = values("sslmode");
  if (sslmodes.includes("no-verify"))
    return `sslmode=no-verify turns off the database server's certificate check: ${FIX_DATABASE}`;
  if (values("ssl").includes("no-verify"))
    return `ssl=no-verify turns off the database server's certificate check: ${FIX_DATABASE}`;
  if (values("uselibpqcompat").includes("true")) {
    const weak = sslmodes.find((mode) => ["prefer", "require", "verify-ca"].includes(mode));
    if (weak !== undefined)
      return `uselibpqcompat=true with sslmode=${weak} skips the database server's certificate or host-name check: ${FIX_DATABASE}`;
  }
  return null;
}

/**
 * Every setting among `values` (the merged environment) that turns certificate checks off:
 * `DATABASE_URL` (see {@link postgresUrlSkipsVerification}), `PGSSLMODE=no-verify` when the
 * database is PostgreSQL, and `NODE_TLS_REJECT_UNAUTHORIZED=0`.
 */
export function tlsVerificationProblems(
  values: ReadonlyMap<string, string>,
): TlsVerificationProblem[] {
  const problems: TlsVerificationProblem[] = [];
  const databaseUrl = values.get("DATABASE_URL");
  const inUrl = databaseUrl === undefined ? null : postgresUrlSkipsVerification(databaseUrl);
  if (inUrl !== null) problems.push({ variable: "DATABASE_URL", message: inUrl });
  const postgres = databaseUrl !== undefined && /^postgres(ql)?:/i.test(databaseUrl.trim());
  if (postgres && values.get("PGSSLMODE")?.trim().toLowerCase() === "no-verify")
    problems.push({
      variable: "PGSSLMODE",
      message: `no-verify turns off the database server's certificate check: unset it and ${FIX_DATABASE}`,
    });
  // Node reads exactly "0"; nothing else turns it off.
  if (values.get("NODE_TLS_REJECT_UNAUTHORIZED") === "0")
    problems.push({
      variable: "NODE_TLS_REJECT_UNAUTHORIZED",
      message:
        "0 turns off certificate checks of every TLS connection (PostgreSQL, Redis, SMTP): unset it; trust a private CA with NODE_EXTRA_CA_CERTS instead",
    });
  return problems;
}

/**
 * `sslmode`s with which pg 8 connects over TLS, verified (see the module comment); `no-verify`
 * encrypts too, without the check, which {@link tlsVerificationProblems} reports instead.
 */
const ENCRYPTING_SSLMODES = ["prefer", "require", "verify-ca", "verify-full"];

/**
 * Backends reached in plain text across a network (ASVS 12.3.1): a PostgreSQL `DATABASE_URL`
 * to a host other than loopback or a Unix socket without an `sslmode` that encrypts, and a
 * `redis://` `REDIS_URL` to a host other than loopback. Warned about in every environment —
 * not refused: a private network may be the operator's deliberate choice — and shown by
 * `strongroom doctor`. (`smtp://` needs no entry: the mailer requires STARTTLS off loopback.)
 */
export function plaintextBackendWarnings(
  values: ReadonlyMap<string, string>,
): TlsVerificationProblem[] {
  const warnings: TlsVerificationProblem[] = [];
  const databaseUrl = values.get("DATABASE_URL");
  if (databaseUrl !== undefined && URL.canParse(databaseUrl)) {
    const url = new URL(databaseUrl);
    const host = decodeURIComponent(url.searchParams.get("host") ?? url.hostname);
    const modes = url.searchParams.getAll("sslmode").map((mode) => mode.trim().toLowerCase());
    const ssl = url.searchParams.getAll("ssl").map((value) => value.trim().toLowerCase());
    const encrypted =
      modes.some((mode) => ENCRYPTING_SSLMODES.includes(mode) || mode === "no-verify") ||
      ssl.some((value) => ["true", "1", "no-verify"].includes(value)) ||
      (modes.length === 0 &&
        ["require", "verify-ca", "verify-full"].includes(
          values.get("PGSSLMODE")?.trim().toLowerCase() ?? "",
        ));
    const local = host === "" || host.startsWith("/") || isLoopbackHost(host);
    if (/^postgres(ql)?:$/.test(url.protocol) && !local && !encrypted)
      warnings.push({
        variable: "DATABASE_URL",
        message:
          "reaches the database in plain text across the network: add sslmode=verify-full (docs/deployment.md, TLS to PostgreSQL, Redis and SMTP)",
      });
  }
  const redisUrl = values.get("REDIS_URL");
  if (redisUrl !== undefined && URL.canParse(redisUrl)) {
    const url = new URL(redisUrl);
    if (url.protocol === "redis:" && !isLoopbackHost(url.hostname))
      warnings.push({
        variable: "REDIS_URL",
        message:
          "reaches Redis in plain text across the network, its password included: use rediss:// (docs/deployment.md, TLS to PostgreSQL, Redis and SMTP)",
      });
  }
  return warnings;
}

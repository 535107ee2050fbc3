/**
 * Well-known default and placeholder passwords of PostgreSQL, Redis and mail servers, their
 * container images and tutorials: a service URL carrying one of them is a credential an
 * attacker tries first (ASVS 5.0 13.2.3). Compared without case.
 */
const DEFAULT_PASSWORDS: ReadonlySet<string> = new Set([
  "admin",
  "changeit",
  "changeme",
  "default",
  "example",
  "guest",
  "letmein",
  "pass",
  "passw0rd",
  "password",
  "postgres",
  "redis",
  "root",
  "secret",
  "strongroom",
  "test",
  "toor",
  "12345678",
  "123456",
]);

/**
 * Why the password in a service URL (`DATABASE_URL`, `REDIS_URL`, `SMTP_URL`) is a default
 * one, or null when it is not (or there is none: peer, certificate or trust authentication
 * carry no password). The reason never contains the password.
 */
export function defaultServiceCredential(url: string): string | null {
  if (!URL.canParse(url)) return null;
  const parsed = new URL(url);
  if (parsed.password === "") return null;
  let password: string;
  let username: string;
  try {
    password = decodeURIComponent(parsed.password);
    username = decodeURIComponent(parsed.username);
  } catch {
    return null;
  }
  if (DEFAULT_PASSWORDS.has(password.toLowerCase()))
    return "carries a well-known default password: give the service account a strong one";
  if (username !== "" && password.toLowerCase() === username.toLowerCase())
    return "carries a password equal to its user name: give the service account a strong one";
  return null;
}

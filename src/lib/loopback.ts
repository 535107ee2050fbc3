/**
 * This machine's loopback: the one place a backend (a mail relay, a database, Redis) may be
 * reached without TLS, since loopback traffic never crosses a network.
 */

/** Whether `host` (a name, or an IP literal bare or in brackets) is this machine's loopback. */
export function isLoopbackHost(host: string): boolean {
  const name = host
    .toLowerCase()
    .replace(/^\[(.*)\]$/, "$1")
    .replace(/\.$/, "");
  return (
    name === "localhost" ||
    name.endsWith(".localhost") ||
    /^127(?:\.\d{1,3}){3}$/.test(name) ||
    name === "::1" ||
    name === "0:0:0:0:0:0:0:1"
  );
}

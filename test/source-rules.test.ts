import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";

/**
 * Properties of the source code itself that no request could show: what the server never
 * does (evaluate code, guess with Math.random, call out to URLs) and what the browser script
 * never touches (storage, markup from strings, messages from other windows). A new use
 * fails here and has to be argued for in the allow-list below.
 */

const ROOT = join(import.meta.dirname, "..");

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(path));
    else if (/\.(ts|tsx|js)$/.test(entry.name) && !/\.test\.tsx?$/.test(entry.name))
      files.push(path);
  }
  return files;
}

/** Every `file: line` of production source matching `pattern`, except the allowed files. */
function uses(pattern: RegExp, allowed: readonly string[] = [], dir = "src"): string[] {
  const found: string[] = [];
  for (const file of sourceFiles(dir)) {
    const name = relative(ROOT, join(ROOT, file)).split("\\").join("/");
    if (allowed.includes(name)) continue;
    readFileSync(join(ROOT, file), "utf8")
      .split("\n")
      .forEach((line, index) => {
        if (pattern.test(line)) found.push(`${name}:${index + 1}: ${line.trim()}`);
      });
  }
  return found;
}

describe("source rules", () => {
  it("never evaluates strings as code", () => {
    assert.deepEqual(uses(/\beval\s*\(|new\s+Function\s*\(|from\s+["']node:vm["']/), []);
  });

  it("never takes randomness for anything guessable from Math.random", () => {
    // The only use jitters Redis reconnect delays: nothing anyone must fail to guess.
    assert.deepEqual(uses(/Math\.random\s*\(/, ["src/throttle/redis-connection.ts"]), []);
  });

  it("never hashes with MD5 or SHA-1 through node:crypto", () => {
    assert.deepEqual(uses(/create(Hash|Hmac)\(\s*["'](md5|sha1|md4|ripemd)/i), []);
  });

  it("calls out over HTTP only from the CLI client, never from the server", () => {
    // Outbound connections are the configured DATABASE_URL, REDIS_URL and SMTP_URL only:
    // no request can make the server fetch a URL (no SSRF surface).
    assert.deepEqual(
      uses(/\bfetch\s*\(|from\s+["']node:(http|https)["']|from\s+["']undici["']|\.request\s*\(/, [
        "src/cli/client.ts",
        // Runs in the browser, not the server: it calls this server's own API by relative
        // path (reveal, create and open share links), the key never leaving the page.
        "src/web/static/share.js",
        // Likewise: passkey options and answers to and from this server's own API.
        "src/web/static/passkeys.js",
      ]),
      [],
    );
  });

  it("keeps nothing in browser storage and builds no markup from strings in the page script", () => {
    assert.deepEqual(
      uses(
        /localStorage|sessionStorage|indexedDB|document\.cookie|innerHTML|outerHTML|insertAdjacentHTML|document\.write|postMessage|addEventListener\(\s*["']message/,
        [],
        "src/web/static",
      ),
      [],
    );
  });
});

/**
 * TLS, tested with Debian's testssl.sh: `strongroom serve` in production mode serving HTTPS
 * itself (TLS_CERT_FILE/TLS_KEY_FILE, a P-256 certificate made for the test) is scanned for
 * protocols, cipher categories, forward secrecy, the known TLS vulnerabilities (Heartbleed,
 * ROBOT, POODLE, SWEET32, LUCKY13, …) and every cipher suite per protocol. It must offer
 * nothing older than TLS 1.2, no weak or obsolete suite, and no finding may rate above OK/INFO.
 * The certificate's own checks (self-signed, short-lived) are not run: they judge the test
 * certificate, not the server.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { startCli } from "../helpers/process.js";
import { findFreePort } from "../helpers/redis-server.js";
import { makeTestCertificate } from "../helpers/tls.js";

const TESTSSL = "/usr/bin/testssl";

/**
 * Why the scan cannot run here, or null. In CI (`CI=true`) it always runs, so a missing tool
 * fails the suite instead of passing it by skipping.
 */
function testsslSkipReason(): string | null {
  if (process.env.CI === "true") return null;
  const probe = spawnSync(TESTSSL, ["--version"], { stdio: "ignore" });
  return probe.error !== undefined || probe.status !== 0
    ? "testssl.sh not installed: TLS scan skipped (apt-get install testssl.sh)"
    : null;
}

/** One finding of testssl.sh's JSON output. */
interface Finding {
  id: string;
  severity: string;
  finding: string;
}

function runTestssl(target: string, jsonFile: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      TESTSSL,
      [
        "--quiet",
        "--color",
        "0",
        "--warnings",
        "batch",
        "--ip",
        "one",
        "--jsonfile",
        jsonFile,
        "--protocols",
        "--std",
        "--fs",
        "--vulnerable",
        "--cipher-per-proto",
        target,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("error", reject);
    // "close": every byte of output read (see test/helpers/process.ts).
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

/** Suites a TLS 1.2 client may be offered: forward-secret AEAD (see src/http/tls.ts). */
const ACCEPTABLE_TLS12 = /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/;

describe("testssl.sh finds nothing weak", { skip: testsslSkipReason() ?? false }, () => {
  it("on the built-in HTTPS listener", { timeout: 10 * 60_000 }, async () => {
    const cwd = mkdtempSync(join(tmpdir(), "strongroom-testssl-"));
    const { cert, key } = makeTestCertificate(cwd);
    const port = await findFreePort();
    const server = startCli(
      ["serve"],
      {
        NODE_ENV: "production",
        PORT: String(port),
        PUBLIC_URL: `https://127.0.0.1:${port}`,
        TLS_CERT_FILE: cert,
        TLS_KEY_FILE: key,
        SECRET_KEY: randomBytes(32).toString("base64url"),
        MASTER_KEY: `k1:${randomBytes(32).toString("base64")}`,
        DATABASE_URL: `sqlite://${join(cwd, "tls.db")}`,
        // Info: the "serving at" line is what says the listener is up.
        LOG_LEVEL: "info",
      },
      cwd,
    );
    try {
      await server.waitFor(/serving at https:/);
      const jsonFile = join(cwd, "testssl.json");
      const run = await runTestssl(`https://127.0.0.1:${port}`, jsonFile);
      const findings = JSON.parse(readFileSync(jsonFile, "utf8")) as Finding[];
      const byId = new Map(findings.map((f) => [f.id, f]));
      const report = findings.map((f) => `${f.id} ${f.severity} ${f.finding}`).join("\n");
      assert.equal(run.code, 0, `testssl.sh failed:\n${run.output.slice(-4000)}`);

      // The scan really ran: every section it was asked for reported.
      for (const id of ["SSLv3", "TLS1_2", "cipherlist_STRONG", "PFS", "heartbleed", "ROBOT"])
        assert.ok(byId.has(id), `no ${id} in the report:\n${report}`);

      for (const id of ["SSLv2", "SSLv3", "TLS1", "TLS1_1"])
        assert.match(byId.get(id)?.finding ?? "", /^not offered/, `${id} offered:\n${report}`);
      assert.match(byId.get("TLS1_2")?.finding ?? "", /^offered/);
      assert.match(byId.get("TLS1_3")?.finding ?? "", /^offered/);
      for (const id of [
        "cipherlist_NULL",
        "cipherlist_aNULL",
        "cipherlist_EXPORT",
        "cipherlist_LOW",
        "cipherlist_3DES_IDEA",
        "cipherlist_AVERAGE",
      ])
        assert.match(byId.get(id)?.finding ?? "", /^not offered/, `${id} offered:\n${report}`);
      assert.match(byId.get("PFS")?.finding ?? "", /^offered/);

      const tls12 = findings
        .filter((f) => f.id.startsWith("cipher-tls1_2_"))
        .map((f) => f.finding.split(/\s+/)[3] ?? "");
      assert.ok(tls12.length > 0, "no TLS 1.2 suite listed");
      for (const suite of tls12) assert.match(suite, ACCEPTABLE_TLS12);

      const bad = findings.filter((f) => !["OK", "INFO"].includes(f.severity));
      assert.deepEqual(
        bad.map((f) => `${f.id} ${f.severity} ${f.finding}`),
        [],
        "every finding is OK or INFO",
      );
    } finally {
      server.child.kill("SIGTERM");
      await server.exited;
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

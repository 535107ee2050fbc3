import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, statSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { startServer } from "../src/main.js";
import { startCli } from "./helpers/process.js";
import { makeTestCertificate } from "./helpers/tls.js";

const tempDir = (): string => mkdtempSync(join(tmpdir(), "strongroom-proc-"));

describe("the server process", () => {
  it("starts with no configuration, says where in one line, keeps keys 0600, and serves", async () => {
    const cwd = tempDir();
    const server = startCli(["serve"], { NODE_ENV: "development", PORT: "0" }, cwd);
    try {
      const [line, url] = await server.waitFor(
        /Strongroom is serving at (http:\/\/127\.0\.0\.1:\d+)/,
      );
      assert.ok(line);
      assert.equal(
        server
          .stdout()
          .split("\n")
          .filter((l) => l.includes("is serving at")).length,
        1,
      );
      const response = await fetch(`${url}/healthz`);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { status: "ok" });
      assert.equal((await fetch(`${url}/readyz`)).status, 200);
      for (const file of ["secret_key", "master_key", "strongroom.db"]) {
        assert.equal(statSync(join(cwd, "data", file)).mode & 0o777, 0o600, file);
      }
      assert.equal(statSync(join(cwd, "data")).mode & 0o777, 0o700);
    } finally {
      server.child.kill("SIGTERM");
      assert.equal(await server.exited, 0);
    }
  });

  it("on SIGTERM finishes the in-flight request, refuses new connections, then exits 0", async () => {
    const cwd = tempDir();
    const server = startCli(["serve"], { NODE_ENV: "development", PORT: "0" }, cwd);
    const [, port] = await server.waitFor(/serving at http:\/\/127\.0\.0\.1:(\d+)/);
    // Start a request whose body is still arriving when the signal lands.
    const socket = connect(Number(port), "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    let answer = "";
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString();
    });
    const body = JSON.stringify({ probe: "x".repeat(64) });
    socket.write(
      `POST /api/v1/in-flight HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    socket.write(body.slice(0, 10));
    await new Promise((resolve) => setTimeout(resolve, 200));
    server.child.kill("SIGTERM");
    await server.waitFor(/shutting down/);
    // New connections are refused while the old request is still open. The listener closes
    // just after the log line, so probe a few times.
    const tryConnect = (): Promise<boolean> =>
      new Promise<boolean>((resolve) => {
        const probe = connect(Number(port), "127.0.0.1");
        probe.once("connect", () => {
          probe.destroy();
          resolve(false);
        });
        probe.once("error", () => resolve(true));
      });
    let refused = false;
    for (let attempt = 0; attempt < 50 && !refused; attempt++) {
      refused = await tryConnect();
      if (!refused) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(refused, true, "the listener is closed");
    assert.equal(existsSync(join(cwd, "data", "strongroom.db")), true);
    socket.end(body.slice(10));
    const code = await server.exited;
    assert.match(answer, /^HTTP\/1\.1 404 /, "the in-flight request got its answer");
    assert.equal(code, 0);
  });

  it("serves HTTPS directly with TLS_CERT_FILE/TLS_KEY_FILE, with HSTS", async () => {
    const cwd = tempDir();
    const { cert, key } = makeTestCertificate(cwd);
    const server = await startServer(
      {
        NODE_ENV: "production",
        PORT: "0",
        SECRET_KEY: randomBytes(32).toString("base64"),
        MASTER_KEY: `k1:${randomBytes(32).toString("base64")}`,
        TLS_CERT_FILE: cert,
        TLS_KEY_FILE: key,
        LOG_LEVEL: "silent",
      },
      cwd,
    );
    try {
      const address = server.app.server.address();
      assert.ok(address !== null && typeof address === "object");
      const { status, headers } = await new Promise<{
        status: number;
        headers: Record<string, unknown>;
      }>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: "127.0.0.1",
            port: address.port,
            path: "/healthz",
            ca: execFileSync("cat", [cert]),
          },
          (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, headers: res.headers });
          },
        );
        req.on("error", reject);
        req.end();
      });
      assert.equal(status, 200);
      assert.match(
        String(headers["strict-transport-security"]),
        /^max-age=(\d+); includeSubDomains$/,
      );
      const maxAge = Number(
        /max-age=(\d+)/.exec(String(headers["strict-transport-security"]))?.[1],
      );
      assert.ok(maxAge >= 31_536_000);
      assert.match(String(headers["content-security-policy"]), /upgrade-insecure-requests/);
      // TLS 1.2 at least, 1.3 preferred: an old client is refused by the server (its
      // protocol_version alert), not by its own library (SECLEVEL=0 lets it offer TLS 1.0/1.1).
      const handshake = (version: "TLSv1" | "TLSv1.1" | null): Promise<string> =>
        new Promise((resolve) => {
          const socket = tlsConnect(
            {
              host: "127.0.0.1",
              port: address.port,
              rejectUnauthorized: false,
              ...(version === null
                ? {}
                : { minVersion: version, maxVersion: version, ciphers: "DEFAULT@SECLEVEL=0" }),
            },
            () => {
              resolve(String(socket.getProtocol()));
              socket.end();
            },
          );
          socket.on("error", (error: NodeJS.ErrnoException) => resolve(String(error.code)));
        });
      assert.equal(await handshake(null), "TLSv1.3");
      assert.equal(await handshake("TLSv1.1"), "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
      assert.equal(await handshake("TLSv1"), "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
      // TLS 1.2 with forward-secret AEAD suites only: a client offering nothing but a CBC
      // suite (which Node's defaults would accept) is refused by the server's alert.
      const tls12 = (cipher: string): Promise<string> =>
        new Promise((resolve) => {
          const socket = tlsConnect(
            {
              host: "127.0.0.1",
              port: address.port,
              rejectUnauthorized: false,
              minVersion: "TLSv1.2",
              maxVersion: "TLSv1.2",
              ciphers: cipher,
            },
            () => {
              resolve(String(socket.getCipher().name));
              socket.end();
            },
          );
          socket.on("error", (error: NodeJS.ErrnoException) => resolve(String(error.code)));
        });
      assert.equal(await tls12("ECDHE-ECDSA-AES128-GCM-SHA256"), "ECDHE-ECDSA-AES128-GCM-SHA256");
      assert.equal(await tls12("ECDHE-ECDSA-CHACHA20-POLY1305"), "ECDHE-ECDSA-CHACHA20-POLY1305");
      for (const weak of [
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA384",
        "ECDHE-ECDSA-AES128-CCM8",
      ])
        assert.equal(await tls12(weak), "ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE", weak);
    } finally {
      await server.stop();
    }
  });
});

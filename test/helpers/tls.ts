import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * A self-signed P-256 certificate for 127.0.0.1 and localhost, valid two days, made with
 * openssl into `dir` (`cert.pem`, `key.pem`). `pem` is the certificate, for clients to trust.
 */
export function makeTestCertificate(dir: string): { cert: string; key: string; pem: Buffer } {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "2",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
    ],
    { stdio: "ignore" },
  );
  return { cert, key, pem: readFileSync(cert) };
}

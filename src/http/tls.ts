import type { SecureContextOptions } from "node:tls";

/**
 * TLS 1.2 cipher suites when serving HTTPS directly: Mozilla's "intermediate" list
 * (ssl-config.mozilla.org, version 5.7) without the DHE suites, which need a configured
 * dhparam. All are forward-secret AEAD suites; Node's default list would also offer CBC
 * suites with SHA-1 MACs (flagged as obsolete by testssl.sh), CCM-8 and ARIA. TLS 1.3
 * suites are all AEAD and are left at Node's defaults.
 */
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

/** The server's TLS settings: TLS 1.2 and 1.3 only, the suites above, clients' order. */
export function tlsServerOptions(certificate: {
  cert: Buffer;
  key: Buffer;
}): SecureContextOptions & { cert: Buffer; key: Buffer } {
  return {
    ...certificate,
    minVersion: "TLSv1.2",
    ciphers: TLS12_CIPHERS,
    // Every suite offered is strong, so the client may pick the one its hardware does fastest
    // (Mozilla's advice for this list).
    honorCipherOrder: false,
  };
}

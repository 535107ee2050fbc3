import { randomBytes } from "node:crypto";

/** `byteLength` bytes from the operating system's CSPRNG. */
export function randomKeyBytes(byteLength: number): Buffer {
  return randomBytes(byteLength);
}

/** A random identifier (RFC 9562 version 4 UUID). */
export function randomId(): string {
  return crypto.randomUUID();
}

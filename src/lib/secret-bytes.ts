import { inspect } from "node:util";

/**
 * Key material that refuses to be printed: `JSON.stringify`, `console.log`, pino and string
 * interpolation all see `[redacted]`, so a key cannot reach a log by accident. The bytes are
 * available only through `reveal()`, whose name says what it does.
 */
export class SecretBytes {
  readonly #bytes: Buffer;

  constructor(bytes: Uint8Array) {
    this.#bytes = Buffer.from(bytes);
  }

  /** The key bytes. Callers must not log or persist them unencrypted. */
  reveal(): Buffer {
    return this.#bytes;
  }

  /** Length in bytes. */
  get byteLength(): number {
    return this.#bytes.length;
  }

  toJSON(): string {
    return "[redacted]";
  }

  toString(): string {
    return "[redacted]";
  }

  [inspect.custom](): string {
    return "SecretBytes([redacted])";
  }
}

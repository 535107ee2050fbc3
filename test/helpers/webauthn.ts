/**
 * A software WebAuthn authenticator for tests that drive the API without a browser: it makes
 * real P-256 credentials and answers registration and sign-in challenges with real
 * attestation objects (format `none`) and ES256 signatures, exactly as a browser's
 * `PublicKeyCredential.toJSON()` would send them. Every field a test may want to get wrong
 * (origin, RP ID, challenge, flags, counter) can be overridden per call.
 *
 * The browser tests use Chromium's own virtual authenticator instead (test/browser/).
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";

type Cbor = number | string | Buffer | Cbor[] | Map<number | string, Cbor>;

function head(major: number, length: number): Buffer {
  if (length < 24) return Buffer.from([(major << 5) | length]);
  if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
  if (length < 0x10000) {
    const out = Buffer.alloc(3);
    out[0] = (major << 5) | 25;
    out.writeUInt16BE(length, 1);
    return out;
  }
  const out = Buffer.alloc(5);
  out[0] = (major << 5) | 26;
  out.writeUInt32BE(length, 1);
  return out;
}

/** Canonical-enough CBOR for what WebAuthn needs: integers, strings, bytes, arrays, maps. */
export function cbor(value: Cbor): Buffer {
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") {
    const bytes = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, bytes.length), bytes]);
  }
  if (Buffer.isBuffer(value)) return Buffer.concat([head(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  const parts: Buffer[] = [head(5, value.size)];
  for (const [key, item] of value) parts.push(cbor(key), cbor(item));
  return Buffer.concat(parts);
}

const b64u = (bytes: Buffer): string => bytes.toString("base64url");
const sha256 = (data: Buffer | string): Buffer => createHash("sha256").update(data).digest();

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

interface Credential {
  id: Buffer;
  privateKey: KeyObject;
  cosePublicKey: Buffer;
  userHandle: Buffer;
  counter: number;
}

/** What a test may falsify in one answer. */
export interface Overrides {
  origin?: string;
  rpId?: string;
  challenge?: string;
  /** User verification flag (default true). */
  userVerified?: boolean;
  /** The signature counter to report (default: one more than the last). */
  counter?: number;
  /** Omit the user handle from an assertion (as a non-discoverable credential would). */
  withoutUserHandle?: boolean;
}

export class SoftAuthenticator {
  readonly #credentials = new Map<string, Credential>();

  constructor(
    private readonly rpId: string,
    private readonly origin: string,
  ) {}

  /** Answers `navigator.credentials.create` options (the API's `options`). */
  register(
    options: { challenge: string; user: { id: string } },
    overrides: Overrides = {},
  ): Record<string, unknown> {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" });
    const cosePublicKey = cbor(
      new Map<number, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x ?? "", "base64url")],
        [-3, Buffer.from(jwk.y ?? "", "base64url")],
      ]),
    );
    const credential: Credential = {
      id: randomBytes(32),
      privateKey,
      cosePublicKey,
      userHandle: Buffer.from(options.user.id, "base64url"),
      counter: overrides.counter ?? 0,
    };
    this.#credentials.set(b64u(credential.id), credential);
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(credential.id.length);
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(credential.counter);
    const authData = Buffer.concat([
      sha256(overrides.rpId ?? this.rpId),
      Buffer.from([FLAG_UP | FLAG_AT | (overrides.userVerified === false ? 0 : FLAG_UV)]),
      counter,
      Buffer.alloc(16), // AAGUID: none
      idLength,
      credential.id,
      cosePublicKey,
    ]);
    const clientDataJSON = Buffer.from(
      JSON.stringify({
        type: "webauthn.create",
        challenge: overrides.challenge ?? options.challenge,
        origin: overrides.origin ?? this.origin,
        crossOrigin: false,
      }),
    );
    const attestationObject = cbor(
      new Map<string, Cbor>([
        ["fmt", "none"],
        ["attStmt", new Map()],
        ["authData", authData],
      ]),
    );
    return {
      id: b64u(credential.id),
      rawId: b64u(credential.id),
      type: "public-key",
      response: {
        clientDataJSON: b64u(clientDataJSON),
        attestationObject: b64u(attestationObject),
        transports: ["internal"],
      },
      clientExtensionResults: {},
      authenticatorAttachment: "platform",
    };
  }

  /** Ids of the credentials made so far, oldest first. */
  credentialIds(): string[] {
    return [...this.#credentials.keys()];
  }

  /** Answers `navigator.credentials.get` options with credential `id` (default: the first). */
  assert(
    options: { challenge: string },
    id: string | undefined = this.credentialIds()[0],
    overrides: Overrides = {},
  ): Record<string, unknown> {
    const credential = id === undefined ? undefined : this.#credentials.get(id);
    if (credential === undefined) throw new Error("no such credential in this authenticator");
    credential.counter = overrides.counter ?? credential.counter + 1;
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(credential.counter);
    const authenticatorData = Buffer.concat([
      sha256(overrides.rpId ?? this.rpId),
      Buffer.from([FLAG_UP | (overrides.userVerified === false ? 0 : FLAG_UV)]),
      counter,
    ]);
    const clientDataJSON = Buffer.from(
      JSON.stringify({
        type: "webauthn.get",
        challenge: overrides.challenge ?? options.challenge,
        origin: overrides.origin ?? this.origin,
        crossOrigin: false,
      }),
    );
    const signature = sign(
      "sha256",
      Buffer.concat([authenticatorData, sha256(clientDataJSON)]),
      credential.privateKey,
    );
    return {
      id: b64u(credential.id),
      rawId: b64u(credential.id),
      type: "public-key",
      response: {
        clientDataJSON: b64u(clientDataJSON),
        authenticatorData: b64u(authenticatorData),
        signature: b64u(signature),
        ...(overrides.withoutUserHandle ? {} : { userHandle: b64u(credential.userHandle) }),
      },
      clientExtensionResults: {},
      authenticatorAttachment: "platform",
    };
  }
}

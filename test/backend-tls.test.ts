/**
 * ASVS 5.0 12.3.2: the TLS clients of PostgreSQL, Redis and SMTP verify the server's
 * certificate before sending it anything. For each, a fake server on 127.0.0.1 speaks just
 * enough of the protocol to reach the TLS handshake (PostgreSQL's SSLRequest and `S`, SMTP's
 * greeting, EHLO and STARTTLS) and then presents a certificate the client has no reason to
 * trust. The application's own connection code (`openDatabase`, `createThrottleStore`,
 * `createMailer`) is pointed at it, and the fake records every byte it decrypts: an impostor
 * must learn nothing (no startup message with the user name, no AUTH, no EHLO after TLS).
 *
 * The positive controls trust the fake's certificate the ways the application supports —
 * pg's `sslrootcert=` in `DATABASE_URL`; `NODE_EXTRA_CA_CERTS` (read by Node at start-up, so
 * in a child process) for Redis and SMTP — and see the first application bytes arrive, so
 * these tests would fail if verification were off. A certificate from a trusted issuer but
 * for another name is refused too: the host name is checked, not only the chain.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { EventEmitter, once } from "node:events";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo, Socket } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { before, describe, it } from "node:test";
import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Logger } from "pino";
import pino from "pino";
import { ConfigError, loadConfig } from "../src/config/config.js";
import { DatabaseUnreachableError, openDatabase } from "../src/db/database.js";
import { parseDatabaseUrl } from "../src/db/url.js";
import { createMailer, MailDeliveryError } from "../src/mail/mailer.js";
import { createThrottleStore } from "../src/throttle/throttle.js";
import { makeTestCertificate } from "./helpers/tls.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/** Generous guard against a hang on a loaded CI machine; every case takes far less. */
const WAIT_MS = 10_000;
/** The password in every URL: it must never reach a server that failed verification. */
const PASSWORD = randomBytes(12).toString("hex");
/** The user name in `DATABASE_URL`: what pg's startup message would give away. */
const DB_USER = "strongroom_tls_probe";
/** Node's reasons for refusing a certificate nobody trusted (self-signed, unknown issuer). */
const UNTRUSTED =
  /self[- ]signed certificate|unable to verify the first certificate|unable to get local issuer certificate/;
/** Node's reason for refusing a trusted certificate issued for another name. */
const WRONG_NAME = /does not match certificate's altnames/;

/** `plain` speaks no TLS at all: it records what a client sends without it. */
type Protocol = "postgres" | "redis" | "smtps" | "smtp-starttls" | "plain";

/** What a fake server observed, over all connections so far. */
interface Seen {
  connections: number;
  /** Bytes received before TLS: the SSLRequest, or SMTP's EHLO and STARTTLS. */
  plaintext: string;
  /**
   * Handshakes the server completed. Not asserted when the client refuses: Node's client checks
   * the certificate once its own side is done, so whether the server finishes its side is a
   * race (with TLS 1.3 it never did in our runs).
   */
  handshakes: number;
  /** Application bytes decrypted after a handshake: what an impostor would learn. */
  decrypted: string;
  /** What the server's TLS sockets reported (alerts, resets). */
  tlsErrors: string[];
  closed: number;
}

interface FakeServer {
  port: number;
  seen: Seen;
  /** Resolves once `predicate` holds for what has been seen; rejects after {@link WAIT_MS}. */
  until(predicate: (seen: Seen) => boolean): Promise<void>;
  close(): Promise<void>;
}

/** A PostgreSQL SSLRequest: length 8, then the code 1234.5679. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/**
 * A server on 127.0.0.1 that reaches the TLS handshake for `protocol` and presents
 * `certificate`. After a handshake it records what it decrypts and hangs up at the first
 * bytes (they are all a test needs); before it, SMTP commands other than EHLO and STARTTLS
 * are recorded and refused.
 */
async function startFakeServer(
  protocol: Protocol,
  certificate: { cert: string; key: string },
): Promise<FakeServer> {
  const context: SecureContext = createSecureContext({
    cert: readFileSync(certificate.cert, "utf8"),
    key: readFileSync(certificate.key, "utf8"),
  });
  const seen: Seen = {
    connections: 0,
    plaintext: "",
    handshakes: 0,
    decrypted: "",
    tlsErrors: [],
    closed: 0,
  };
  const changed = new EventEmitter();
  const sockets = new Set<Socket>();
  const update = (change: () => void): void => {
    change();
    changed.emit("change");
  };

  const startTls = (socket: Socket, onSecure?: (secure: TLSSocket) => void): void => {
    const secure = new TLSSocket(socket, { isServer: true, secureContext: context });
    secure.on("secure", () => {
      update(() => {
        seen.handshakes += 1;
      });
      onSecure?.(secure);
    });
    secure.on("data", (chunk: Buffer) => {
      update(() => {
        seen.decrypted += chunk.toString("latin1");
      });
      secure.destroy();
    });
    secure.on("error", (error: NodeJS.ErrnoException) => {
      update(() => seen.tlsErrors.push(error.code ?? error.message));
    });
    secure.on("close", () => socket.destroy());
  };

  const server = createServer((socket) => {
    sockets.add(socket);
    update(() => {
      seen.connections += 1;
    });
    socket.on("error", () => {});
    socket.on("close", () => {
      sockets.delete(socket);
      update(() => {
        seen.closed += 1;
      });
    });
    if (protocol === "plain") {
      socket.on("data", (chunk: Buffer) => {
        update(() => {
          seen.plaintext += chunk.toString("latin1");
        });
        socket.destroy();
      });
    } else if (protocol === "redis") startTls(socket);
    else if (protocol === "smtps") startTls(socket, (secure) => secure.write(GREETING));
    else if (protocol === "postgres") {
      socket.once("data", (chunk: Buffer) => {
        update(() => {
          seen.plaintext += chunk.toString("latin1");
        });
        if (!chunk.equals(SSL_REQUEST)) return socket.destroy();
        socket.write("S", () => startTls(socket));
      });
    } else speakSmtpUntilStartTls(socket, seen, update, () => startTls(socket));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");

  return {
    port: (server.address() as AddressInfo).port,
    seen,
    until: (predicate) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (!predicate(seen)) return;
          clearTimeout(timer);
          changed.off("change", check);
          resolve();
        };
        const timer = setTimeout(() => {
          changed.off("change", check);
          reject(new Error(`fake ${protocol} server: condition not met; saw ${show(seen)}`));
        }, WAIT_MS);
        changed.on("change", check);
        check();
      }),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const GREETING = "220 fake.test ESMTP\r\n";

/** Plain-text SMTP up to `STARTTLS`: greets, offers STARTTLS, refuses everything else. */
function speakSmtpUntilStartTls(
  socket: Socket,
  seen: Seen,
  update: (change: () => void) => void,
  upgrade: () => void,
): void {
  let pending = "";
  const onData = (chunk: Buffer): void => {
    const text = chunk.toString("latin1");
    update(() => {
      seen.plaintext += text;
    });
    pending += text;
    for (let end = pending.indexOf("\r\n"); end !== -1; end = pending.indexOf("\r\n")) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 2);
      const verb = line.split(" ")[0]?.toUpperCase();
      if (verb === "EHLO")
        socket.write("250-fake.test\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n");
      else if (verb === "STARTTLS") {
        socket.off("data", onData);
        socket.write("220 2.0.0 Ready to start TLS\r\n", upgrade);
        return;
      } else socket.write("530 5.7.0 Must issue a STARTTLS command first\r\n");
    }
  };
  socket.on("data", onData);
  socket.write(GREETING);
}

function show(seen: Seen): string {
  return JSON.stringify(seen);
}

/** A self-signed certificate for `other.test` only: trusted as an issuer, wrong as a name. */
function makeOtherNameCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, "other-cert.pem");
  const key = join(dir, "other-key.pem");
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
      ...["-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=other.test"],
      ...["-addext", "subjectAltName=DNS:other.test"],
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}

/** Asserts the fake learned nothing: no bytes decrypted, nothing sensitive in plain text. */
function assertLearnedNothing(seen: Seen): void {
  assert.ok(seen.connections >= 1, "the client did connect");
  assert.equal(seen.decrypted, "", "no application bytes after the handshake");
  assert.ok(!seen.plaintext.includes(PASSWORD), "the password never crossed the wire");
}

const silent = pino({ level: "silent" });

/** A pino logger whose warnings' `reason` fields a test can read. */
function captureReasons(): { logger: Logger; reasons: string[] } {
  const reasons: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
        const { reason } = JSON.parse(line) as { reason?: unknown };
        if (typeof reason === "string") reasons.push(reason);
      }
      done();
    },
  });
  return { logger: pino({ level: "warn" }, stream), reasons };
}

const MAIL = { to: "alice@example.com", subject: "Reset your password", text: "a secret link" };

let dir: string;
let trusted: { cert: string; key: string; pem: Buffer };
let otherName: { cert: string; key: string };
/** NODE_EXTRA_CA_CERTS for the children: both certificates, as trusted issuers. */
let extraCaFile: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "strongroom-backend-tls-"));
  trusted = makeTestCertificate(dir);
  otherName = makeOtherNameCertificate(dir);
  extraCaFile = join(dir, "extra-ca.pem");
  writeFileSync(extraCaFile, `${trusted.pem.toString()}\n${readFileSync(otherName.cert, "utf8")}`);
});

/** Runs `test` against a fresh fake server, closing it afterwards. */
async function withFake<T>(
  protocol: Protocol,
  certificate: { cert: string; key: string },
  test: (fake: FakeServer) => Promise<T>,
): Promise<T> {
  const fake = await startFakeServer(protocol, certificate);
  try {
    return await test(fake);
  } finally {
    await fake.close();
  }
}

describe("PostgreSQL (pg, through openDatabase)", () => {
  const url = (fake: FakeServer, query: string): string =>
    `postgres://${DB_USER}:${PASSWORD}@127.0.0.1:${fake.port}/strongroom?${query}`;

  /** Opens the database at `target`; resolves with the error once the fake saw the end. */
  async function attempt(fake: FakeServer, target: string): Promise<unknown> {
    const error: unknown = await openDatabase(parseDatabaseUrl(target)).then(
      async (handle) => {
        await handle.close();
        return null;
      },
      (rejection: unknown) => rejection,
    );
    await fake.until((seen) => seen.connections > 0 && seen.closed === seen.connections);
    return error;
  }

  // `require` and `ssl=true` are verify-full in pg 8; parameters pg ignores loosen nothing.
  for (const query of [
    "sslmode=verify-full",
    "sslmode=require",
    "ssl=true",
    "sslmode=verify-full&rejectUnauthorized=false",
  ]) {
    it(`?${query}: refuses an untrusted certificate before sending the startup message`, (t) =>
      withFake("postgres", trusted, async (fake) => {
        const error = await attempt(fake, url(fake, query));
        t.diagnostic(`client: ${String(error)}; fake server saw ${show(fake.seen)}`);
        assert.ok(error instanceof DatabaseUnreachableError, String(error));
        assert.match(error.message, UNTRUSTED);
        assert.equal((error.cause as NodeJS.ErrnoException).code, "DEPTH_ZERO_SELF_SIGNED_CERT");
        assert.ok(!error.message.includes(PASSWORD));
        assert.equal(fake.seen.plaintext, SSL_REQUEST.toString("latin1"), "only the SSLRequest");
        assertLearnedNothing(fake.seen);
      }));
  }

  it("refuses a certificate from a trusted issuer (sslrootcert=) for another host name", (t) =>
    withFake("postgres", otherName, async (fake) => {
      const error = await attempt(
        fake,
        url(fake, `sslmode=verify-full&sslrootcert=${otherName.cert}`),
      );
      t.diagnostic(`client: ${String(error)}; fake server saw ${show(fake.seen)}`);
      assert.ok(error instanceof DatabaseUnreachableError, String(error));
      assert.match(error.message, WRONG_NAME);
      assert.equal((error.cause as NodeJS.ErrnoException).code, "ERR_TLS_CERT_ALTNAME_INVALID");
      assertLearnedNothing(fake.seen);
    }));

  it("control: with the certificate trusted through sslrootcert=, the startup message is sent", (t) =>
    withFake("postgres", trusted, async (fake) => {
      const error = await attempt(
        fake,
        url(fake, `sslmode=verify-full&sslrootcert=${trusted.cert}`),
      );
      t.diagnostic(`client: ${String(error)}; fake server saw ${show(fake.seen)}`);
      assert.ok(
        error instanceof DatabaseUnreachableError,
        "the fake hangs up after the first bytes",
      );
      assert.equal(fake.seen.handshakes, 1);
      assert.ok(
        fake.seen.decrypted.includes(`user\0${DB_USER}\0`),
        "the startup message, decrypted",
      );
      assert.ok(fake.seen.decrypted.includes("database\0strongroom\0"));
    }));

  // The forms production refuses (src/config/tls-verification.ts) really do talk to an impostor.
  for (const query of [
    "sslmode=no-verify",
    "ssl=no-verify",
    "uselibpqcompat=true&sslmode=require",
  ]) {
    it(`?${query} would hand the user name to an impostor, so production refuses it`, () =>
      withFake("postgres", trusted, async (fake) => {
        await attempt(fake, url(fake, query));
        assert.ok(fake.seen.decrypted.includes(`user\0${DB_USER}\0`));
        assert.throws(
          () =>
            loadConfig(
              productionEnv({ DATABASE_URL: url(fake, query) }),
              mkdtempSync(join(dir, "c")),
            ),
          (error: unknown) =>
            error instanceof ConfigError && /^DATABASE_URL: /m.test(error.message),
        );
      }));
  }
});

describe("Redis (ioredis, through createThrottleStore)", () => {
  // Query parameters become top-level ioredis options; none reaches the TLS socket.
  for (const query of [
    "",
    "?rejectUnauthorized=false",
    "?tls.rejectUnauthorized=false",
    "?tls=false",
  ]) {
    it(`rediss://…/${query}: refuses an untrusted certificate before AUTH`, (t) =>
      withFake("redis", trusted, async (fake) => {
        const { logger, reasons } = captureReasons();
        const store = createThrottleStore({
          redisUrl: `rediss://:${PASSWORD}@127.0.0.1:${fake.port}/${query}`,
          logger,
        });
        await waitFor(() => reasons.length > 0);
        assert.equal(store.redisConnected(), false);
        await store.close();
        await fake.until((seen) => seen.connections > 0 && seen.closed === seen.connections);
        t.diagnostic(`client: ${reasons[0]}; fake server saw ${show(fake.seen)}`);
        assert.match(reasons[0] ?? "", UNTRUSTED);
        assertLearnedNothing(fake.seen);
      }));
  }

  // ioredis would take an empty tls= as "no TLS" and send AUTH in plain text; the client is
  // handed the URL without its query (and the configuration refuses one), so TLS holds.
  it("rediss://…/?tls= still uses TLS and refuses the untrusted certificate; config refuses it", (t) =>
    withFake("redis", trusted, async (fake) => {
      const redisUrl = `rediss://:${PASSWORD}@127.0.0.1:${fake.port}/?tls=`;
      const { logger, reasons } = captureReasons();
      const store = createThrottleStore({ redisUrl, logger });
      await waitFor(() => reasons.length > 0);
      await store.close();
      await fake.until((seen) => seen.connections > 0 && seen.closed === seen.connections);
      t.diagnostic(`client: ${reasons[0]}; fake server saw ${show(fake.seen)}`);
      assert.match(reasons[0] ?? "", UNTRUSTED);
      assertLearnedNothing(fake.seen);
      for (const NODE_ENV of ["production", "development"])
        assert.throws(
          () =>
            loadConfig(
              { ...productionEnv({ REDIS_URL: redisUrl }), NODE_ENV },
              mkdtempSync(join(dir, "c")),
            ),
          (error: unknown) => error instanceof ConfigError && /^REDIS_URL: /m.test(error.message),
        );
    }));

  it("control: trusting the certificate (NODE_EXTRA_CA_CERTS) lets AUTH through; another name does not", (t) =>
    withFake("redis", otherName, (wrong) =>
      withFake("redis", trusted, async (good) => {
        const outcomes = await runWithExtraCa("redis", [
          `rediss://:${PASSWORD}@127.0.0.1:${wrong.port}`,
          `rediss://:${PASSWORD}@127.0.0.1:${good.port}`,
        ]);
        t.diagnostic(`client: ${JSON.stringify(outcomes)}; fake server saw ${show(good.seen)}`);
        assert.match(outcomes[0] ?? "", WRONG_NAME);
        assertLearnedNothing(wrong.seen);
        await good.until((seen) => seen.decrypted.includes(PASSWORD));
        assert.match(good.seen.decrypted, /AUTH/, "the first command, decrypted");
      }),
    ));
});

describe("SMTP (nodemailer, through createMailer)", () => {
  const SCHEMES = [
    ["smtps", "smtps"],
    ["smtp", "smtp-starttls"],
  ] as const;
  /** The mailer keeps only nodemailer's code, never its text: a socket or TLS failure. */
  const TLS_FAILURE = /^mail delivery failed \((ESOCKET|ETLS)\)$/;

  /** What an SMTP fake may have seen in plain text: nothing, or EHLO then STARTTLS. */
  function assertPlaintextOnlyUpToStartTls(protocol: Protocol, seen: Seen): void {
    if (protocol === "smtp-starttls")
      assert.match(seen.plaintext, /^EHLO [^\r\n]+\r\nSTARTTLS\r\n$/, "no AUTH, no MAIL FROM");
    else assert.equal(seen.plaintext, "");
  }

  for (const [scheme, protocol] of SCHEMES) {
    it(`${scheme}://: refuses an untrusted certificate before AUTH or MAIL FROM`, (t) =>
      withFake(protocol, trusted, async (fake) => {
        const mailer = createMailer({
          smtp: { url: `${scheme}://vault:${PASSWORD}@127.0.0.1:${fake.port}`, from: "v@x.test" },
          env: "production",
          logger: silent,
        });
        const error: unknown = await mailer.send(MAIL).catch((rejection: unknown) => rejection);
        await mailer.close();
        await fake.until((seen) => seen.connections > 0 && seen.closed === seen.connections);
        t.diagnostic(`client: ${String(error)}; fake server saw ${show(fake.seen)}`);
        assert.ok(error instanceof MailDeliveryError);
        assert.match(error.message, TLS_FAILURE);
        assertPlaintextOnlyUpToStartTls(protocol, fake.seen);
        assertLearnedNothing(fake.seen);
      }));
  }

  for (const [scheme, protocol] of SCHEMES) {
    it(`${scheme}://, control: trusting the certificate (NODE_EXTRA_CA_CERTS) lets EHLO through; another name does not`, (t) =>
      withFake(protocol, otherName, (wrong) =>
        withFake(protocol, trusted, async (good) => {
          const outcomes = await runWithExtraCa("smtp", [
            `${scheme}://vault:${PASSWORD}@127.0.0.1:${wrong.port}`,
            `${scheme}://vault:${PASSWORD}@127.0.0.1:${good.port}`,
          ]);
          t.diagnostic(`client: ${JSON.stringify(outcomes)}; fake server saw ${show(good.seen)}`);
          assert.match(outcomes[0] ?? "", TLS_FAILURE);
          assertPlaintextOnlyUpToStartTls(protocol, wrong.seen);
          assertLearnedNothing(wrong.seen);
          assert.equal(good.seen.handshakes, 1);
          assert.match(good.seen.decrypted, /^EHLO /, "the first command, decrypted");
          // The fake hung up after EHLO: the send failed later, for another reason.
          assert.match(outcomes[1] ?? "", /ECONNECTION/);
        }),
      ));
  }
});

/** A production environment that passes every other check. */
function productionEnv(overrides: Record<string, string>): NodeJS.ProcessEnv {
  return {
    NODE_ENV: "production",
    SECRET_KEY: randomBytes(32).toString("base64"),
    MASTER_KEY: `k1:${randomBytes(32).toString("base64")}`,
    PUBLIC_URL: "https://vault.example.com",
    ...overrides,
  };
}

async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Script for a child process, where `NODE_EXTRA_CA_CERTS` (read by Node only at start-up)
 * trusts the fakes' certificates: connects to each of `TARGETS` in turn with the application's
 * own code and prints, as JSON, each attempt's failure reason.
 */
const CHILD_SCRIPT = `
const { Writable } = await import("node:stream");
const { default: pino } = await import("pino");
const targets = JSON.parse(process.env.TARGETS);
const outcomes = [];
if (process.env.KIND === "redis") {
  const { createThrottleStore } = await import(process.env.MODULE);
  for (const redisUrl of targets) {
    const reasons = [];
    const stream = new Writable({ write(chunk, _e, done) {
      for (const line of chunk.toString().split("\\n").filter(Boolean)) reasons.push(JSON.parse(line).reason);
      done();
    } });
    const store = createThrottleStore({ redisUrl, logger: pino({ level: "warn" }, stream) });
    while (reasons.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await store.close();
    outcomes.push(reasons[0]);
  }
} else {
  const { createMailer } = await import(process.env.MODULE);
  for (const url of targets) {
    const mailer = createMailer({ smtp: { url, from: "v@x.test" }, env: "production",
      logger: pino({ level: "silent" }) });
    outcomes.push(await mailer.send(${JSON.stringify(MAIL)}).then(() => "sent", (e) => e.message));
    await mailer.close();
  }
}
// Exit at once: ioredis command timers would keep the process alive for seconds.
process.stdout.write(JSON.stringify(outcomes), () => process.exit(0));
`;

/** Runs {@link CHILD_SCRIPT} for `kind` against `targets`; resolves with its outcomes. */
async function runWithExtraCa(kind: "redis" | "smtp", targets: string[]): Promise<string[]> {
  const module = join(ROOT, kind === "redis" ? "src/throttle/throttle.ts" : "src/mail/mailer.ts");
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--input-type=module", "--eval", CHILD_SCRIPT],
    {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH,
        NODE_EXTRA_CA_CERTS: extraCaFile,
        KIND: kind,
        MODULE: pathToFileURL(module).href,
        TARGETS: JSON.stringify(targets),
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  let err = "";
  child.stdout.on("data", (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => {
    err += chunk.toString();
  });
  const timer = setTimeout(() => child.kill(), WAIT_MS * 2);
  const [code] = (await once(child, "close")) as [number | null];
  clearTimeout(timer);
  assert.equal(code, 0, `child failed: ${err}`);
  return JSON.parse(out) as string[];
}

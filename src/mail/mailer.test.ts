import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { networkInterfaces } from "node:os";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { inspect } from "node:util";
import type { Logger } from "pino";
import pino from "pino";
import type { SMTPServerOptions } from "smtp-server";
import { SMTPServer } from "smtp-server";
import { isLoopbackHost } from "../lib/loopback.js";
import {
  createMailer,
  MailDeliveryError,
  type MailMessage,
  MailUnavailableError,
} from "./mailer.js";

interface ReceivedMail {
  from: string | undefined;
  to: string[];
  data: string;
  user: string | undefined;
}

interface TestServer {
  port: number;
  received: ReceivedMail[];
  close(): Promise<void>;
}

/** A real SMTP server on loopback; plain text (no STARTTLS) so no certificate is needed. */
async function startSmtpServer(
  extra: Partial<SMTPServerOptions> = {},
  host = "127.0.0.1",
): Promise<TestServer> {
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ["STARTTLS"],
    logger: false,
    onAuth(auth, _session, callback) {
      callback(null, { user: auth.username });
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (chunk: Buffer) => chunks.push(chunk));
      stream.on("end", () => {
        received.push({
          from: session.envelope.mailFrom === false ? undefined : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          data: Buffer.concat(chunks).toString("utf8"),
          user: typeof session.user === "string" ? session.user : undefined,
        });
        callback();
      });
    },
    ...extra,
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.server.address() as AddressInfo;
  return {
    port,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A pino logger whose JSON lines the test can read back. */
function captureLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString("utf8"));
      callback();
    },
  });
  const logger = pino({ level: "info" }, stream);
  const lines = (): Record<string, unknown>[] =>
    chunks
      .join("")
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { logger, lines };
}

const silent = pino({ level: "silent" });
const message: MailMessage = {
  to: "alice@example.com",
  subject: "Reset your Strongroom password",
  text: "Follow https://vault.example.com/reset#token=abc to choose a new password.",
};

/** Everything an error could show in a log line or a response. */
function everythingAbout(error: unknown): string {
  return [
    String(error),
    error instanceof Error ? (error.stack ?? "") : "",
    inspect(error, { depth: 10, showHidden: true }),
    JSON.stringify(error),
  ].join("\n");
}

describe("createMailer with SMTP", () => {
  let server: TestServer;
  before(async () => {
    server = await startSmtpServer();
  });
  after(async () => {
    await server.close();
  });

  it("delivers the message to a real SMTP server", async () => {
    const mailer = createMailer({
      smtp: { url: `smtp://127.0.0.1:${server.port}`, from: "vault@example.com" },
      env: "production",
      logger: silent,
    });
    await mailer.send(message);
    await mailer.close();
    const mail = server.received.at(-1);
    assert.ok(mail);
    assert.equal(mail.from, "vault@example.com");
    assert.deepEqual(mail.to, ["alice@example.com"]);
    assert.match(mail.data, /^Subject: Reset your Strongroom password\r$/m);
    assert.match(mail.data, /^To: alice@example\.com\r$/m);
    assert.match(mail.data, /^From: vault@example\.com\r$/m);
    assert.ok(mail.data.replace(/=\r\n/g, "").includes(message.text), "the body arrives intact");
  });

  it("logs in with the credentials from the URL, percent-decoded", async () => {
    const mailer = createMailer({
      smtp: {
        url: `smtp://mailer%40example.com:p%40ss@127.0.0.1:${server.port}`,
        from: "vault@example.com",
      },
      env: "production",
      logger: silent,
    });
    await mailer.send({ ...message, to: "bob@example.com" });
    await mailer.close();
    const mail = server.received.at(-1);
    assert.ok(mail);
    assert.deepEqual(mail.to, ["bob@example.com"]);
    assert.equal(mail.user, "mailer@example.com");
  });

  it("refuses a recipient list, a display name or a multi-line subject before sending", async () => {
    const mailer = createMailer({
      smtp: { url: `smtp://127.0.0.1:${server.port}`, from: "vault@example.com" },
      env: "production",
      logger: silent,
    });
    const before = server.received.length;
    for (const bad of [
      { ...message, to: "alice@example.com, mallory@example.com" },
      { ...message, to: "alice@example.com\r\nBcc: mallory@example.com" },
      { ...message, to: "Alice <alice@example.com>" },
      { ...message, to: "alice" },
      { ...message, to: "" },
      { ...message, subject: "Hello\r\nBcc: mallory@example.com" },
    ]) {
      await assert.rejects(mailer.send(bad), TypeError);
    }
    await mailer.close();
    assert.equal(server.received.length, before);
  });
});

describe("createMailer with SMTP that fails", () => {
  it("rejects when the server refuses the recipient, without leaking the password", async () => {
    const refusing = await startSmtpServer({
      onRcptTo(_address, _session, callback) {
        const error = new Error("5.1.1 no such user here") as Error & { responseCode: number };
        error.responseCode = 550;
        callback(error);
      },
    });
    try {
      const mailer = createMailer({
        smtp: { url: `smtp://user:hunter2@127.0.0.1:${refusing.port}`, from: "vault@example.com" },
        env: "production",
        logger: silent,
      });
      const error: unknown = await mailer.send(message).then(
        () => assert.fail("send should reject"),
        (rejection: unknown) => rejection,
      );
      await mailer.close();
      assert.ok(error instanceof MailDeliveryError);
      assert.equal(error.responseCode, 550);
      assert.equal(error.smtpCode, "EENVELOPE");
      assert.equal(error.cause, undefined);
      const shown = everythingAbout(error);
      assert.doesNotMatch(shown, /hunter2/);
      assert.doesNotMatch(shown, /aHVudGVyMg|dXNlcgBodW50ZXIy/); // base64 of it, as AUTH sends
      assert.doesNotMatch(shown, /no such user/); // the server's text is not relayed either
      assert.equal(refusing.received.length, 0);
    } finally {
      await refusing.close();
    }
  });

  it("rejects when authentication fails, without leaking the password", async () => {
    const refusing = await startSmtpServer({
      onAuth(_auth, _session, callback) {
        callback(new Error("Invalid username or password"));
      },
    });
    try {
      const mailer = createMailer({
        smtp: { url: `smtp://user:hunter2@127.0.0.1:${refusing.port}`, from: "vault@example.com" },
        env: "production",
        logger: silent,
      });
      const error: unknown = await mailer.send(message).catch((rejection: unknown) => rejection);
      await mailer.close();
      assert.ok(error instanceof MailDeliveryError);
      assert.equal(error.smtpCode, "EAUTH");
      assert.doesNotMatch(everythingAbout(error), /hunter2/);
    } finally {
      await refusing.close();
    }
  });

  it("rejects when nothing listens on the port, without leaking the password", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const mailer = createMailer({
      smtp: { url: `smtps://user:hunter2@127.0.0.1:${port}`, from: "vault@example.com" },
      env: "production",
      logger: silent,
    });
    const error: unknown = await mailer.send(message).catch((rejection: unknown) => rejection);
    await mailer.close();
    assert.ok(error instanceof MailDeliveryError);
    assert.doesNotMatch(everythingAbout(error), /hunter2/);
  });
});

describe("createMailer URL checks", () => {
  for (const url of [
    "not a url hunter2",
    "http://user:hunter2@mail.example.com",
    "smtp://user:hunter2@mail.example.com?tls.rejectUnauthorized=false",
    "smtp://user:hunter2@mail.example.com#x",
    "smtp://user:%E0%A4%A@mail.example.com",
  ]) {
    it(`refuses ${JSON.stringify(url.replace("hunter2", "…"))} without echoing it`, () => {
      assert.throws(
        () =>
          createMailer({ smtp: { url, from: "vault@example.com" }, env: "test", logger: silent }),
        (error: unknown) => {
          assert.ok(error instanceof Error);
          assert.match(error.message, /^SMTP_URL /);
          assert.doesNotMatch(everythingAbout(error), /hunter2|%E0/);
          return true;
        },
      );
    });
  }
});

describe("createMailer without SMTP", () => {
  for (const env of ["development", "test"] as const) {
    it(`logs the message in ${env}`, async () => {
      const { logger, lines } = captureLogger();
      const mailer = createMailer({ smtp: null, env, logger });
      await mailer.send(message);
      await mailer.close();
      const logged = lines();
      assert.equal(logged.length, 1);
      const [line] = logged;
      assert.ok(line);
      assert.equal(line.msg, "mail (no SMTP_URL configured)");
      assert.equal(line.level, 30); // info
      assert.deepEqual(line.mail, message);
    });
  }

  it("rejects with MailUnavailableError in production and logs nothing", async () => {
    const { logger, lines } = captureLogger();
    const mailer = createMailer({ smtp: null, env: "production", logger });
    await assert.rejects(mailer.send(message), (error: unknown) => {
      assert.ok(error instanceof MailUnavailableError);
      assert.doesNotMatch(String(error), /alice|Reset/);
      return true;
    });
    await mailer.close();
    assert.deepEqual(lines(), []);
  });

  it("checks the message in development too, so tests catch injection", async () => {
    const mailer = createMailer({ smtp: null, env: "development", logger: silent });
    await assert.rejects(mailer.send({ ...message, to: "a@example.com,b@example.com" }), TypeError);
  });
});

/** An IPv4 address of this machine that is not loopback, to reach a server "elsewhere". */
function nonLoopbackAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces()))
    for (const address of addresses ?? [])
      if (address.family === "IPv4" && !address.internal) return address.address;
  return undefined;
}

describe("plain smtp:// to another machine", () => {
  const address = nonLoopbackAddress();

  it("tells loopback from other hosts", () => {
    for (const host of [
      "localhost",
      "LOCALHOST.",
      "mail.localhost",
      "127.0.0.1",
      "127.9.8.7",
      "::1",
    ])
      assert.equal(isLoopbackHost(host), true, host);
    for (const host of [
      "mail.example.com",
      "10.0.0.5",
      "128.0.0.1",
      "localhost.example.com",
      "::2",
    ])
      assert.equal(isLoopbackHost(host), false, host);
  });

  it("refuses to send without STARTTLS: no password, no message reaches the server", {
    skip: address === undefined ? "this machine has no non-loopback IPv4 address" : false,
  }, async () => {
    const authAttempts: string[] = [];
    const server = await startSmtpServer(
      {
        onAuth(auth, _session, callback) {
          authAttempts.push(String(auth.password));
          callback(null, { user: auth.username });
        },
      },
      address,
    );
    try {
      const mailer = createMailer({
        smtp: { url: `smtp://user:hunter2@${address}:${server.port}`, from: "vault@example.com" },
        env: "production",
        logger: silent,
      });
      const error: unknown = await mailer.send(message).then(
        () => assert.fail("send should reject"),
        (rejection: unknown) => rejection,
      );
      await mailer.close();
      assert.ok(error instanceof MailDeliveryError, String(error));
      assert.deepEqual(authAttempts, [], "the password was never sent");
      assert.equal(server.received.length, 0, "nor the message");
    } finally {
      await server.close();
    }
  });
});

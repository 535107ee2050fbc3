import { createRequire } from "node:module";
import type { Logger } from "pino";
import { isLoopbackHost } from "../lib/loopback.js";

/**
 * Outgoing mail (SPEC §2: `SMTP_URL`, `MAIL_FROM`). With an SMTP URL, messages go through a
 * nodemailer SMTP transport; without one, development and test write them to the log so a
 * password-reset link can be followed locally, and production refuses, because silently
 * dropping a reset mail in production would look like success to the user.
 */

/** One plain-text message to one recipient. */
export interface MailMessage {
  /** A single address, e.g. `alice@example.com` (lists and display names are refused). */
  to: string;
  /** One line; CR and LF are refused. */
  subject: string;
  /** Plain-text body. */
  text: string;
}

/** Sends mail. `close` releases any connection; `send` must not be called after it. */
export interface Mailer {
  /** Delivers `message`; rejects with `MailUnavailableError` or `MailDeliveryError`. */
  send(message: MailMessage): Promise<void>;
  close(): Promise<void>;
}

/** Mail is not configured (no `SMTP_URL`) in production. The message is fixed. */
export class MailUnavailableError extends Error {
  constructor() {
    super("outgoing mail is not configured (set SMTP_URL and MAIL_FROM)");
    this.name = "MailUnavailableError";
  }
}

/**
 * The SMTP server could not be reached or refused the message. The message and fields are
 * built only from nodemailer's error code (e.g. `EENVELOPE`, `EAUTH`, `ETIMEDOUT`) and the
 * numeric SMTP reply code, never from the server's reply text or the original error, so the
 * credentials in `SMTP_URL` (or an address echoed by the server) cannot reach a log or client.
 */
export class MailDeliveryError extends Error {
  /** nodemailer's error code, when it had one of the expected form. */
  readonly smtpCode: string | undefined;
  /** The SMTP reply code (e.g. 550), when the server sent one. */
  readonly responseCode: number | undefined;

  constructor(smtpCode: string | undefined, responseCode: number | undefined) {
    const details = [smtpCode, responseCode].filter((part) => part !== undefined).join(" ");
    super(details === "" ? "mail delivery failed" : `mail delivery failed (${details})`);
    this.name = "MailDeliveryError";
    this.smtpCode = smtpCode;
    this.responseCode = responseCode;
  }
}

/** Options of `createMailer`. */
export interface MailerOptions {
  /** `url` is `smtp://[user:pass@]host[:port]` or `smtps://…`; null when mail is not set up. */
  smtp: { url: string; from: string } | null;
  env: "production" | "development" | "test";
  logger: Logger;
}

/**
 * Limit on connecting, on the greeting, on DNS and on socket inactivity, in milliseconds: a
 * slow or black-holed mail server must not hold a request (or a reset flow) for minutes
 * (nodemailer's defaults are 30 s to 10 min).
 */
const SMTP_TIMEOUT_MS = 10_000;

/**
 * Makes the mailer for this process. With `smtp`, an SMTP transport: `smtps://` uses implicit
 * TLS (default port 465), `smtp://` upgrades with STARTTLS (default port 587) and, unless the
 * server is on loopback, refuses to send without it; certificates are verified. Without `smtp`, development and test log
 * each message at info level and production rejects every `send` with
 * `MailUnavailableError`. Throws `Error` (naming `SMTP_URL`, never its credentials) if the URL
 * is not a valid smtp:// or smtps:// URL.
 */
export function createMailer(options: MailerOptions): Mailer {
  if (options.smtp === null) {
    return options.env === "production" ? refusingMailer() : loggingMailer(options.logger);
  }
  return smtpMailer(options.smtp.url, options.smtp.from);
}

function refusingMailer(): Mailer {
  return {
    send: async (message) => {
      checkMessage(message);
      throw new MailUnavailableError();
    },
    close: async () => {},
  };
}

function loggingMailer(logger: Logger): Mailer {
  return {
    send: async (message) => {
      checkMessage(message);
      const { to, subject, text } = message;
      logger.info({ mail: { to, subject, text } }, "mail (no SMTP_URL configured)");
    },
    close: async () => {},
  };
}

function smtpMailer(url: string, from: string): Mailer {
  // Loaded here, not at the top: a server without SMTP_URL never holds nodemailer in memory.
  const { createTransport } = createRequire(import.meta.url)(
    "nodemailer",
  ) as typeof import("nodemailer");
  const target = parseSmtpUrl(url);
  const transport = createTransport({
    ...target,
    // smtp:// to another machine must upgrade with STARTTLS or not send at all: otherwise an
    // attacker on the path strips the server's STARTTLS offer and reads the credentials and
    // the reset links. A relay on this machine (loopback) may speak plain text.
    requireTLS: !target.secure && !isLoopbackHost(target.host),
    connectionTimeout: SMTP_TIMEOUT_MS,
    greetingTimeout: SMTP_TIMEOUT_MS,
    socketTimeout: SMTP_TIMEOUT_MS,
    dnsTimeout: SMTP_TIMEOUT_MS,
    // Our messages are plain strings; refusing file paths and URLs as content means a value
    // that reached a message by mistake can never make nodemailer read a file or fetch a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
  });
  return {
    send: async (message) => {
      checkMessage(message);
      try {
        await transport.sendMail({
          from,
          to: message.to,
          subject: message.subject,
          text: message.text,
        });
      } catch (error) {
        throw toDeliveryError(error);
      }
    },
    close: async () => {
      transport.close();
    },
  };
}

/**
 * Turns the URL into explicit transport options. Parsed here rather than handed to nodemailer
 * as `url`, because nodemailer also reads options from the query string, which would let the
 * URL turn off certificate checks or lengthen the timeouts above; this way the URL says only
 * where to connect and as whom.
 */
function parseSmtpUrl(text: string): {
  host: string;
  port: number;
  secure: boolean;
  auth?: { user: string; pass: string };
} {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error("SMTP_URL is not a valid URL");
  }
  if (url.protocol !== "smtp:" && url.protocol !== "smtps:") {
    throw new Error("SMTP_URL must start with smtp:// or smtps://");
  }
  if (url.hostname === "") throw new Error("SMTP_URL has no host");
  if (url.search !== "" || url.hash !== "") {
    throw new Error("SMTP_URL must not have query parameters or a fragment");
  }
  const secure = url.protocol === "smtps:";
  const port = url.port === "" ? (secure ? 465 : 587) : Number(url.port);
  // IPv6 literals come back bracketed from URL; the socket wants them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (url.username === "" && url.password === "") return { host, port, secure };
  try {
    const auth = {
      user: decodeURIComponent(url.username),
      pass: decodeURIComponent(url.password),
    };
    return { host, port, secure, auth };
  } catch {
    throw new Error("SMTP_URL has badly percent-encoded credentials");
  }
}

/**
 * Refuses what would turn one message into another: a `to` naming several recipients or a
 * display name, and header line breaks. Callers validate addresses at the boundary already;
 * this keeps a missed case from becoming recipient or header injection.
 */
function checkMessage(message: MailMessage): void {
  if (!/^[^\s\p{Cc}@,;:<>()[\]"\\]+@[^\s\p{Cc}@,;:<>()[\]"\\]+$/u.test(message.to)) {
    throw new TypeError("mail recipient must be a single plain address");
  }
  if (/[\r\n]/.test(message.subject)) throw new TypeError("mail subject must be one line");
}

function toDeliveryError(error: unknown): MailDeliveryError {
  if (typeof error !== "object" || error === null)
    return new MailDeliveryError(undefined, undefined);
  const { code, responseCode } = error as { code?: unknown; responseCode?: unknown };
  return new MailDeliveryError(
    typeof code === "string" && /^E[A-Z0-9]{1,31}$/.test(code) ? code : undefined,
    typeof responseCode === "number" && Number.isInteger(responseCode) ? responseCode : undefined,
  );
}

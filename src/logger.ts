import type { Logger, LoggerOptions } from "pino";
import pino from "pino";

/**
 * Field names whose values are never logged, at any depth: credentials, tokens, keys, secret
 * values and notes, cookies, one-time codes. Matching is on the key name, so a value that
 * reaches a log by mistake (say `request.body`) is still hidden.
 */
const SENSITIVE_KEY =
  /pass(word|phrase)?|token|secret|value|note|key$|keys$|^key|apikey|cookie|authorization|csrf|totp|^otp$|^code$|recovery|ciphertext|credential|^cvc$|^number$/i;

/** Headers never logged even if a serializer includes them. */
const REDACTED_PATHS = [
  "req.headers.authorization",
  "req.headers.cookie",
  'req.headers["x-csrf-token"]',
  'res.headers["set-cookie"]',
  "headers.authorization",
  "headers.cookie",
  'headers["set-cookie"]',
];

const MAX_REDACT_DEPTH = 8;

/** Returns a copy of `value` with every sensitive-named field replaced by `[redacted]`. */
export function redactSensitive(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_REDACT_DEPTH) return "[truncated]";
  if (Array.isArray(value)) return value.map((item) => redactSensitive(item, depth + 1));
  // Class instances (errors, Fastify's request and reply) are left to their serializers,
  // which copy out only safe fields; walking them here would lose their getters.
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    copy[key] = SENSITIVE_KEY.test(key) ? "[redacted]" : redactSensitive(item, depth + 1);
  }
  return copy;
}

/**
 * A share link's id in a path (`/s/{id}`, `/api/v1/shares/{id}`, `…/shares/{id}/revoke`):
 * whoever holds the id can take a view, so it is a credential and stays out of the logs.
 */
const SHARE_ID_IN_PATH = /(^\/s\/|\/shares\/)[^/?#]+/;

/**
 * Replaces the values of sensitive-named query parameters in a logged URL, so a token in a
 * link (`?token=…`) stays out of the logs, and a share link's id in the path. The rest of the
 * path is kept.
 */
export function redactUrl(rawUrl: string): string {
  const url = rawUrl.replace(SHARE_ID_IN_PATH, "$1[redacted]");
  const queryStart = url.indexOf("?");
  if (queryStart < 0) return url;
  const params = new URLSearchParams(url.slice(queryStart + 1));
  for (const name of [...params.keys()]) {
    if (SENSITIVE_KEY.test(name)) params.set(name, "[redacted]");
  }
  return `${url.slice(0, queryStart)}?${params.toString()}`;
}

export interface LoggerSettings {
  level: string;
  /** Human-readable lines (development) instead of JSON (production). */
  pretty: boolean;
  /** Where JSON lines go; defaults to stdout. Tests pass a stream to read them back. */
  destination?: NodeJS.WritableStream;
}

/** A pino logger with Strongroom's redaction applied to every line. */
export function createLogger(settings: LoggerSettings): Logger {
  const options: LoggerOptions = {
    level: settings.level,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    formatters: {
      log: (object) => redactSensitive(object) as Record<string, unknown>,
    },
    serializers: {
      req: (request: { method?: string; url?: string; ip?: string; id?: string }) => ({
        method: request.method,
        url: redactUrl(request.url ?? ""),
        remoteAddress: request.ip,
      }),
      res: (reply: { statusCode?: number }) => ({ statusCode: reply.statusCode }),
      err: pino.stdSerializers.err,
    },
  };
  if (settings.destination !== undefined) {
    return pino(options, settings.destination as pino.DestinationStream);
  }
  if (settings.pretty) {
    return pino({
      ...options,
      transport: {
        target: "pino-pretty",
        options: { colorize: true, translateTime: "HH:MM:ss", ignore: "pid,hostname" },
      },
    });
  }
  return pino(options);
}

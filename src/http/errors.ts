import type { Socket } from "node:net";
import type {
  FastifyBaseLogger,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
} from "fastify";
import { h } from "preact";
import { AppError, notFound } from "../lib/errors.js";
import type { Problem } from "../lib/problem.js";
import { PROBLEM_CONTENT_TYPE, problemType } from "../lib/problem.js";
import { randomId } from "../lib/random.js";
import { ErrorPage } from "../web/error.pages.js";
import { renderDocument } from "../web/render.js";
import { RequestValidationError } from "./zod.js";

/**
 * Fastify's own client errors, mapped to our codes and our words: a library's message never
 * reaches a client (it can quote the request body or name internals).
 */
const FRAMEWORK_ERRORS: Record<string, { code: string; title: string; detail: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: {
    code: "payload-too-large",
    title: "Payload too large",
    detail: "The request body is larger than this endpoint accepts.",
  },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    code: "unsupported-media-type",
    title: "Unsupported media type",
    detail: "Send the body as application/json.",
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    code: "bad-request",
    title: "Bad request",
    detail: "The Content-Length header does not match the body.",
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    code: "bad-request",
    title: "Bad request",
    detail: "The request body is empty; send a JSON value.",
  },
  FST_ERR_CTP_INVALID_JSON_BODY: {
    code: "bad-request",
    title: "Bad request",
    detail: "The request body is not valid JSON.",
  },
  FST_ERR_BAD_URL: {
    code: "bad-request",
    title: "Bad request",
    detail: "The request URL is malformed.",
  },
  FST_ERR_MAX_PARAM_LENGTH: {
    code: "uri-too-long",
    title: "URI too long",
    detail: "A path segment of the request URL is longer than this server accepts.",
  },
  FST_ERR_ASYNC_CONSTRAINT: {
    code: "bad-request",
    title: "Bad request",
    detail: "The request could not be routed.",
  },
};

const STATUS_TITLES: Record<number, [string, string]> = {
  400: ["bad-request", "Bad request"],
  401: ["unauthenticated", "Not authenticated"],
  403: ["forbidden", "Forbidden"],
  404: ["not-found", "Not found"],
  405: ["method-not-allowed", "Method not allowed"],
  408: ["request-timeout", "Request timeout"],
  413: ["payload-too-large", "Payload too large"],
  415: ["unsupported-media-type", "Unsupported media type"],
  429: ["too-many-requests", "Too many requests"],
};

export interface ErrorHandlingOptions {
  /** Development with DEBUG on: add the internal message and stack to 5xx problems. */
  exposeInternals: boolean;
  /** Recognises "the database went away" so it becomes a 503, not a 500. */
  isUnavailableError: (error: unknown) => boolean;
}

/** Whether this request should get HTML (a page) rather than problem+json. */
export function wantsHtml(request: FastifyRequest): boolean {
  const path = request.url.split("?")[0] ?? "";
  if (path.startsWith("/api/") || path === "/api" || path === "/healthz" || path === "/readyz")
    return false;
  return (request.headers.accept ?? "").includes("text/html");
}

/** Converts any thrown value to the AppError the client will see. */
function toAppError(error: unknown, options: ErrorHandlingOptions): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof RequestValidationError) {
    return new AppError("validation-failed", 400, "Invalid request", {
      detail: "One or more fields are invalid.",
      errors: error.errors,
    });
  }
  const fastifyError = error as Partial<FastifyError>;
  const known = fastifyError.code !== undefined ? FRAMEWORK_ERRORS[fastifyError.code] : undefined;
  if (known !== undefined && fastifyError.statusCode !== undefined) {
    return new AppError(known.code, fastifyError.statusCode, known.title, {
      detail: known.detail,
      cause: error,
    });
  }
  const status = fastifyError.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const [code, title] = STATUS_TITLES[status] ?? ["bad-request", "Bad request"];
    return new AppError(code, status, title, {
      detail: "The request could not be processed.",
      cause: error,
    });
  }
  if (options.isUnavailableError(error)) {
    return new AppError("service-unavailable", 503, "Service unavailable", {
      detail: "A backing service is unavailable; try again shortly.",
      headers: { "retry-after": "5" },
      cause: error,
    });
  }
  return new AppError("internal-error", 500, "Internal server error", {
    detail: "Something went wrong on our side. Quote the request id if you report it.",
    cause: error,
  });
}

function send(
  request: FastifyRequest,
  reply: FastifyReply,
  appError: AppError,
  original: unknown,
  options: ErrorHandlingOptions,
): FastifyReply {
  reply.status(appError.status);
  for (const [name, value] of Object.entries(appError.headers)) reply.header(name, value);
  if (wantsHtml(request)) {
    reply.type("text/html; charset=utf-8");
    return reply.send(
      renderDocument(
        h(ErrorPage, {
          status: appError.status,
          title: appError.title,
          detail: appError.detail,
          requestId: request.id,
        }),
      ),
    );
  }
  const problem: Problem = {
    type: problemType(appError.code),
    title: appError.title,
    status: appError.status,
    requestId: request.id,
  };
  if (appError.detail !== undefined) problem.detail = appError.detail;
  if (appError.errors !== undefined) problem.errors = appError.errors;
  if (options.exposeInternals && appError.status >= 500 && original instanceof Error) {
    problem.debug = {
      message: original.message,
      ...(original.stack !== undefined ? { stack: original.stack } : {}),
    };
  }
  reply.type(PROBLEM_CONTENT_TYPE);
  return reply.send(JSON.stringify(problem));
}

/**
 * The one error handler: every error becomes problem+json for the API (RFC 9457) or an
 * error page for browsers. 5xx are logged in full with the request id, which the client also
 * gets; 4xx are logged by code only, since their messages may echo input.
 */
export function registerErrorHandling(app: FastifyInstance, options: ErrorHandlingOptions): void {
  app.setErrorHandler((error, request, reply) => {
    const appError = toAppError(error, options);
    if (appError.status >= 500) {
      const unavailable = options.isUnavailableError(error);
      request.log.error(
        { err: error, errorCode: appError.code },
        unavailable ? "request failed: database unavailable" : "request failed",
      );
    } else {
      request.log.info({ errorCode: appError.code, status: appError.status }, "request refused");
    }
    return send(request, reply, appError, error, options);
  });

  app.setNotFoundHandler((request, reply) => {
    const appError = notFound(
      request.url.startsWith("/api/") ? "There is no such API endpoint." : "There is no such page.",
    );
    return send(request, reply, appError, undefined, options);
  });
}

/**
 * Fastify's `frameworkErrors`: URLs the router refuses before routing (bad percent-encoding,
 * a path parameter longer than `maxParamLength`) become problems like every other 4xx,
 * instead of the framework's JSON quoting the URL. No hook has run for them, so the caller
 * sets the headers the hooks would have.
 */
export function answerFrameworkError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const options: ErrorHandlingOptions = { exposeInternals: false, isUnavailableError: () => false };
  const appError = toAppError(error, options);
  request.log.info({ errorCode: appError.code, status: appError.status }, "request refused");
  return send(request, reply, appError, error, options);
}

/** What Node's HTTP parser refuses before there is a request, by the parser's error code. */
const CLIENT_ERRORS: Record<
  string,
  { status: number; reason: string; code: string; title: string; detail: string }
> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    reason: "Request Timeout",
    code: "request-timeout",
    title: "Request timeout",
    detail: "The request was not received in time.",
  },
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: "Request Header Fields Too Large",
    code: "request-header-fields-too-large",
    title: "Request header fields too large",
    detail: "The request's headers are larger than this server accepts.",
  },
};

/**
 * Fastify's `clientErrorHandler`: answers what Node's HTTP parser refuses (a malformed
 * request line or header, bytes after a request that frame no other, headers too large, a
 * request too slow to arrive) with problem+json like every other error, instead of the
 * framework's own JSON. There is no request yet, so the problem gets a fresh id, which the
 * log line carries too; then the connection is closed, as Node itself does.
 */
export function createClientErrorHandler(
  logger: FastifyBaseLogger,
): (error: Error & { code?: string }, socket: Socket) => void {
  return (error, socket) => {
    // A reset connection has nobody left to answer (Node's `clientError` documentation).
    if (error.code === "ECONNRESET" || socket.destroyed) return;
    const known = CLIENT_ERRORS[error.code ?? ""] ?? {
      status: 400,
      reason: "Bad Request",
      code: "bad-request",
      title: "Bad request",
      detail: "The request is not well-formed HTTP.",
    };
    const problem: Problem = {
      type: problemType(known.code),
      title: known.title,
      status: known.status,
      detail: known.detail,
      requestId: randomId(),
    };
    logger.info(
      { errorCode: known.code, status: known.status, reqId: problem.requestId, parser: error.code },
      "request refused",
    );
    if (socket.writable) {
      const body = JSON.stringify(problem);
      socket.write(
        `HTTP/1.1 ${known.status} ${known.reason}\r\n` +
          `Content-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n` +
          `X-Request-Id: ${problem.requestId}\r\nConnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy(error);
  };
}

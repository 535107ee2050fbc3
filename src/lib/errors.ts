/**
 * The one error family of Strongroom. Every expected failure that reaches a client is an
 * `AppError` with a stable `code` (it becomes the problem `type`), an HTTP status, and a
 * title and detail that are safe to show. The `cause` is for logs only and never serialized.
 */

/** One invalid field, as listed in a problem's `errors` member. */
export interface FieldError {
  /** Where the field is, e.g. `body.username` or `query.limit`. */
  path: string;
  message: string;
}

/**
 * Refusals that operators want to see as security events in the application log (not the
 * audit chain, which anonymous traffic must not be able to grow). Stable names: alerting
 * rules match on them. See docs/deployment.md, "Logs".
 */
export type SecurityEvent =
  | "security.token_refused"
  | "security.access_denied"
  | "security.csrf_refused"
  | "security.rate_limited"
  | "security.passkey_counter"
  | "security.passkey_refused";

export interface AppErrorOptions {
  detail?: string;
  errors?: FieldError[];
  /** Extra response headers, e.g. `Retry-After` or `Allow`. */
  headers?: Record<string, string>;
  /** The underlying error, for logs only. */
  cause?: unknown;
  /** Log this refusal as a security event (never serialized; the client sees nothing of it). */
  securityEvent?: SecurityEvent;
}

/** An error whose code, status, title and detail may be shown to the client. */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;
  /** The security event this refusal is logged as, if any; never sent to the client. */
  readonly securityEvent: SecurityEvent | undefined;

  constructor(code: string, status: number, title: string, options: AppErrorOptions = {}) {
    super(options.detail ?? title, { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.status = status;
    this.title = title;
    this.detail = options.detail;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
    this.securityEvent = options.securityEvent;
  }
}

/** 400: the request failed validation; `errors` lists every invalid field. */
export function validationError(errors: FieldError[], detail?: string): AppError {
  return new AppError("validation-failed", 400, "Invalid request", {
    detail: detail ?? "One or more fields are invalid.",
    errors,
  });
}

/** 400: the body is not well-formed (bad JSON, too deeply nested, …). */
export function badRequest(detail: string): AppError {
  return new AppError("bad-request", 400, "Bad request", { detail });
}

/** 401: no valid credentials were presented. */
export function unauthenticated(detail = "Authentication is required."): AppError {
  return new AppError("unauthenticated", 401, "Not authenticated", { detail });
}

/** 403: authenticated but not allowed. */
export function forbidden(detail = "You are not allowed to do this."): AppError {
  return new AppError("forbidden", 403, "Forbidden", { detail });
}

/**
 * 404: not found, or hidden from this caller. `options.securityEvent` marks the hidden case
 * for the log only; the answer is the same either way.
 */
export function notFound(
  detail = "The requested resource was not found.",
  options: Pick<AppErrorOptions, "securityEvent"> = {},
): AppError {
  return new AppError("not-found", 404, "Not found", { detail, ...options });
}

/** 405: the method is not supported; `allow` lists what is. */
export function methodNotAllowed(allow: readonly string[]): AppError {
  return new AppError("method-not-allowed", 405, "Method not allowed", {
    detail: "This method is not supported.",
    headers: { allow: allow.join(", ") },
  });
}

/** 409: the request conflicts with the current state. */
export function conflict(detail: string): AppError {
  return new AppError("conflict", 409, "Conflict", { detail });
}

/** 503: a dependency (the database) is unavailable; safe to retry. */
export function serviceUnavailable(detail = "The service is temporarily unavailable."): AppError {
  return new AppError("service-unavailable", 503, "Service unavailable", {
    detail,
    headers: { "retry-after": "5" },
  });
}

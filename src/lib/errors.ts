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

export interface AppErrorOptions {
  detail?: string;
  errors?: FieldError[];
  /** Extra response headers, e.g. `Retry-After` or `Allow`. */
  headers?: Record<string, string>;
  /** The underlying error, for logs only. */
  cause?: unknown;
}

/** An error whose code, status, title and detail may be shown to the client. */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly detail: string | undefined;
  readonly errors: FieldError[] | undefined;
  readonly headers: Record<string, string>;

  constructor(code: string, status: number, title: string, options: AppErrorOptions = {}) {
    super(options.detail ?? title, { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.status = status;
    this.title = title;
    this.detail = options.detail;
    this.errors = options.errors;
    this.headers = options.headers ?? {};
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

/** 404: not found, or hidden from this caller. */
export function notFound(detail = "The requested resource was not found."): AppError {
  return new AppError("not-found", 404, "Not found", { detail });
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

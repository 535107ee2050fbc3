import type { FieldError } from "./errors.js";

/** An RFC 9457 problem details body as Strongroom sends it. */
export interface Problem {
  /** A URI reference whose last segment is the stable error code, e.g. `/docs/errors#not-found`. */
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
  /** Quote this when reporting a problem; it is in the server's log line for the request. */
  requestId: string;
  /** Development with DEBUG only: the internal message and stack. */
  debug?: { message: string; stack?: string };
}

/** The problem `type` for an error code: a relative reference to the error table in the docs. */
export function problemType(code: string): string {
  return `/docs/errors#${code}`;
}

export const PROBLEM_CONTENT_TYPE = "application/problem+json; charset=utf-8";

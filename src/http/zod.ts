import type { FastifyInstance, FastifyTypeProvider } from "fastify";
import type { ZodType, z } from "zod";
import type { FieldError } from "../lib/errors.js";

/** Lets route handlers see the types of the zod schemas they declare. */
export interface ZodTypeProvider extends FastifyTypeProvider {
  validator: this["schema"] extends ZodType ? z.output<this["schema"]> : unknown;
  serializer: this["schema"] extends ZodType ? z.input<this["schema"]> : unknown;
}

/** A request part failed its schema; carries every invalid field. */
export class RequestValidationError extends Error {
  readonly statusCode = 400;
  readonly errors: FieldError[];

  constructor(
    part: string,
    issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>,
  ) {
    super("request validation failed");
    this.name = "RequestValidationError";
    this.errors = issues.map((issue) => ({
      path: [part, ...issue.path.map(String)].join("."),
      message: issue.message,
    }));
  }
}

function isZodType(schema: unknown): schema is ZodType {
  return (
    typeof schema === "object" &&
    schema !== null &&
    typeof (schema as ZodType).safeParse === "function"
  );
}

/**
 * Routes declare zod schemas for params, query, body and response. Requests are validated
 * once, here; responses are parsed through their schema before serializing, so only the
 * fields the schema lists can leave the server (unknown keys are stripped), and a response
 * that does not match fails closed with a 500 instead of leaking.
 */
export function registerZodCompilers(app: FastifyInstance): void {
  app.setValidatorCompiler(({ schema, httpPart }) => {
    if (!isZodType(schema)) throw new Error("route schemas must be zod schemas");
    return (data: unknown) => {
      const result = schema.safeParse(data);
      if (result.success) return { value: result.data };
      return { error: new RequestValidationError(httpPart ?? "body", result.error.issues) };
    };
  });
  app.setSerializerCompiler(({ schema }) => {
    if (!isZodType(schema)) throw new Error("response schemas must be zod schemas");
    return (data: unknown) => JSON.stringify(schema.parse(data));
  });
}

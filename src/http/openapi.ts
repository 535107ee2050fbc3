import type { FastifyInstance, RouteOptions } from "fastify";
import type { ZodType } from "zod";
import { z } from "zod";

/** A route as the document describes it. */
interface DocumentedRoute {
  method: string;
  url: string;
  schema: RouteOptions["schema"];
  /** Reachable without credentials: login, registration, password reset, this document. */
  public: boolean;
  /** Needs a recent proof from a browser session (`REAUTH_MINUTES`; session-gates.ts). */
  stepUp: boolean;
}

/**
 * What an operation marked `x-strongroom-step-up` says to a reader of the document: the
 * vendor extension is for tools, the description for people.
 */
const STEP_UP_DESCRIPTION =
  "Step-up: a browser session must have proved the password or a second factor within " +
  "REAUTH_MINUTES, else 401 with a type ending reauth-required (prove again with " +
  "POST /api/v1/auth/reauth). Bearer tokens are exempt.";

type JsonSchema = Record<string, unknown>;

function toSchema(schema: unknown, io: "input" | "output"): JsonSchema | null {
  if (
    typeof schema !== "object" ||
    schema === null ||
    typeof (schema as ZodType).safeParse !== "function"
  )
    return null;
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema as ZodType, {
    io,
    unrepresentable: "any",
  }) as JsonSchema;
  return json;
}

/** `/vaults/:vault` → `/vaults/{vault}` (OpenAPI path templating). */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function parameters(schema: JsonSchema | null, location: "path" | "query" | "header"): unknown[] {
  const properties = (schema?.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((schema?.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => ({
    name,
    in: location,
    required: location === "path" || required.has(name),
    schema: property,
  }));
}

const PROBLEM = {
  description: "Problem details (RFC 9457)",
  content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
};

/**
 * Collects every `/api/v1` route with its zod schemas as it is registered, and builds the
 * OpenAPI 3.1 document from them: the same schemas the routes validate with, never a
 * hand-written copy. Register before the API routes.
 */
export function collectOpenApiRoutes(app: FastifyInstance): () => JsonSchema {
  const routes: DocumentedRoute[] = [];
  app.addHook("onRoute", (route) => {
    if (!route.url.startsWith("/api/v1")) return;
    for (const method of [route.method].flat()) {
      if (method !== "HEAD")
        routes.push({
          method: method.toLowerCase(),
          url: route.url,
          schema: route.schema,
          public: route.config?.public === true || route.config?.csrf === "origin-only",
          stepUp: route.config?.stepUp !== undefined,
        });
    }
  });

  let cached: JsonSchema | null = null;
  return () => {
    if (cached !== null) return cached;
    const paths: Record<string, Record<string, unknown>> = {};
    for (const route of routes) {
      const schema = (route.schema ?? {}) as Record<string, unknown>;
      const body = toSchema(schema.body, "input");
      const responses: Record<string, unknown> = {};
      for (const [status, response] of Object.entries(
        (schema.response ?? {}) as Record<string, unknown>,
      )) {
        const json = toSchema(response, "output");
        responses[status] = {
          description: `HTTP ${status}`,
          ...(json ? { content: { "application/json": { schema: json } } } : {}),
        };
      }
      if (Object.keys(responses).length === 0) responses["2XX"] = { description: "Success" };
      responses["4XX"] = PROBLEM;
      responses["5XX"] = PROBLEM;
      const path = openApiPath(route.url);
      paths[path] ??= {};
      (paths[path] as Record<string, unknown>)[route.method] = {
        operationId: `${route.method} ${path}`,
        parameters: [
          ...parameters(toSchema(schema.params, "input"), "path"),
          ...parameters(toSchema(schema.querystring, "input"), "query"),
          ...parameters(toSchema(schema.headers, "input"), "header"),
        ],
        ...(body
          ? { requestBody: { required: true, content: { "application/json": { schema: body } } } }
          : {}),
        responses,
        // An empty requirement: no credentials needed (a session or token sent anyway is
        // still checked, and a broken one refused).
        security: route.public ? [{}] : [{ session: [] }, { bearer: [] }],
        ...(route.stepUp ? { description: STEP_UP_DESCRIPTION, "x-strongroom-step-up": true } : {}),
      };
    }
    cached = {
      openapi: "3.1.0",
      info: {
        title: "Strongroom API",
        version: "1",
        description:
          "Vaults of secrets for people and machines. Errors are application/problem+json.",
      },
      paths,
      components: {
        securitySchemes: {
          session: {
            type: "apiKey",
            in: "cookie",
            name: "strongroom_session",
            description:
              "Browser session (over https: __Host-strongroom_session); unsafe methods also need X-CSRF-Token.",
          },
          bearer: { type: "http", scheme: "bearer", description: "API token sr_…" },
        },
        schemas: {
          Problem: {
            type: "object",
            required: ["type", "title", "status"],
            properties: {
              type: { type: "string" },
              title: { type: "string" },
              status: { type: "integer" },
              detail: { type: "string" },
              errors: {
                type: "array",
                items: {
                  type: "object",
                  properties: { path: { type: "string" }, message: { type: "string" } },
                },
              },
              requestId: { type: "string" },
            },
          },
        },
      },
    };
    return cached;
  };
}

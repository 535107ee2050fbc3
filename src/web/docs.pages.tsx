import type { VNode } from "preact";
import { Layout } from "./layout.js";
import type { PageContext } from "./web-context.js";

interface Operation {
  method: string;
  path: string;
  parameters: Array<{ name: string; in: string; required: boolean }>;
  requestBody?: unknown;
  responses: Record<string, unknown>;
}

/** Flattens the OpenAPI document's paths into a list of operations. */
export function operationsOf(document: Record<string, unknown>): Operation[] {
  const paths = (document.paths ?? {}) as Record<
    string,
    Record<string, Omit<Operation, "method" | "path">>
  >;
  return Object.entries(paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({
      method: method.toUpperCase(),
      path,
      ...operation,
    })),
  );
}

function schemaText(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** The API reference, rendered on the server from the OpenAPI document (no external script). */
export function DocsPage({
  context,
  document,
}: {
  context: PageContext;
  document: Record<string, unknown>;
}): VNode {
  const operations = operationsOf(document);
  return (
    <Layout title="API reference" context={context}>
      <h1>API reference</h1>
      <p>
        Every endpoint below is generated from the schemas the server validates with. The
        machine-readable document is at <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>{" "}
        (OpenAPI 3.1). Authenticate with the session cookie (unsafe methods also need the
        <code> X-CSRF-Token</code> header) or with <code>Authorization: Bearer sr_…</code>. Errors
        are <code>application/problem+json</code>.
      </p>
      <nav aria-label="Endpoints">
        <ul>
          {operations.map((operation) => (
            <li key={`${operation.method} ${operation.path}`}>
              <a href={`#${operation.method}-${operation.path}`}>
                <code>
                  {operation.method} {operation.path}
                </code>
              </a>
            </li>
          ))}
        </ul>
      </nav>
      {operations.map((operation) => {
        const body = (
          operation.requestBody as { content?: Record<string, { schema?: unknown }> } | undefined
        )?.content?.["application/json"]?.schema;
        return (
          <section
            key={`${operation.method} ${operation.path}`}
            id={`${operation.method}-${operation.path}`}
            aria-label={`${operation.method} ${operation.path}`}
          >
            <h2>
              <code>
                {operation.method} {operation.path}
              </code>
            </h2>
            {operation.parameters.length > 0 ? (
              <p>
                Parameters:{" "}
                {operation.parameters
                  .map((p) => `${p.name} (${p.in}${p.required ? ", required" : ""})`)
                  .join(", ")}
              </p>
            ) : null}
            {body !== undefined ? (
              <details>
                <summary>Request body</summary>
                <pre>{schemaText(body)}</pre>
              </details>
            ) : null}
            <details>
              <summary>Responses: {Object.keys(operation.responses).join(", ")}</summary>
              <pre>{schemaText(operation.responses)}</pre>
            </details>
          </section>
        );
      })}
    </Layout>
  );
}

import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import type { TestApp } from "./helpers/app.js";
import { createTestApp } from "./helpers/app.js";

let t: TestApp;
before(async () => {
  t = await createTestApp();
});
after(async () => {
  await t.close();
});

describe("the OpenAPI document", () => {
  it("is OpenAPI 3.1, generated from the route schemas, and covers every API route", async () => {
    const response = await t.app.inject({ url: "/api/v1/openapi.json" });
    assert.equal(response.statusCode, 200);
    const document = JSON.parse(response.body);
    assert.equal(document.openapi, "3.1.0");
    const documented = new Set<string>();
    for (const [path, methods] of Object.entries(
      document.paths as Record<
        string,
        Record<string, { responses: object; parameters: Array<{ name: string; in: string }> }>
      >,
    )) {
      for (const [method, operation] of Object.entries(methods)) {
        documented.add(`${method.toUpperCase()} ${path}`);
        assert.ok(Object.keys(operation.responses).length > 0, `${method} ${path} has responses`);
        for (const name of [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1])) {
          assert.ok(
            operation.parameters.some((p) => p.in === "path" && p.name === name),
            `${method} ${path}: path parameter ${name}`,
          );
        }
      }
    }
    const registered = t.app.registeredRoutes
      .filter((r) => r.url.startsWith("/api/v1"))
      .map((r) => `${r.method} ${r.url.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`);
    assert.deepEqual(
      registered.filter((route) => !documented.has(route)),
      [],
      "every route is documented",
    );
    // Schemas come from zod: the sign-up body says what the route enforces.
    const register =
      document.paths["/api/v1/auth/register"].post.requestBody.content["application/json"].schema;
    assert.deepEqual(register.required.sort(), ["email", "password", "username"]);
    assert.equal(register.additionalProperties, false);
    assert.equal(register.properties.username.pattern, "^[A-Za-z0-9_]{4,25}$");
  });

  it("is valid against the OpenAPI 3.1 schema, which rejects a broken copy", async () => {
    const response = await t.app.inject({ url: "/api/v1/openapi.json" });
    const document = JSON.parse(response.body) as Record<string, unknown>;
    // A new Validator each time: it keeps the last document it saw.
    const validate = (candidate: Record<string, unknown>) => new Validator().validate(candidate);

    const result = await validate(document);
    assert.deepEqual(result.errors, undefined, "no schema errors");
    assert.equal(result.valid, true);

    // The same check must fail on what it is meant to catch, or it proves nothing.
    const { info: _info, ...withoutInfo } = structuredClone(document);
    const noInfo = await validate(withoutInfo);
    assert.equal(noInfo.valid, false, "a document without info is refused");
    assert.match(JSON.stringify(noInfo.errors), /info/);

    const brokenOperation = structuredClone(document) as {
      paths: Record<string, Record<string, Record<string, unknown>>>;
    };
    const vaults = brokenOperation.paths["/api/v1/vaults"];
    assert.ok(vaults?.get, "GET /api/v1/vaults is documented");
    vaults.get.responses = "200 OK";
    const badOperation = await validate(brokenOperation);
    assert.equal(badOperation.valid, false, "an operation whose responses is a string is refused");
    assert.match(JSON.stringify(badOperation.errors), /~1api~1v1~1vaults\/get\/responses/);
  });

  it("says which operations need credentials, and the server agrees", async () => {
    const document = JSON.parse((await t.app.inject({ url: "/api/v1/openapi.json" })).body) as {
      paths: Record<string, Record<string, { security: Array<Record<string, string[]>> }>>;
    };
    const open: string[] = [];
    const guarded: string[] = [];
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        const isOpen = operation.security.some(
          (requirement) => Object.keys(requirement).length === 0,
        );
        (isOpen ? open : guarded).push(`${method.toUpperCase()} ${path}`);
      }
    }
    assert.deepEqual(open.sort(), [
      "GET /api/v1/openapi.json",
      // A share link is its own credential: whoever holds it may open it.
      "GET /api/v1/shares/{id}",
      "POST /api/v1/auth/login",
      "POST /api/v1/auth/logout",
      "POST /api/v1/auth/passkey/login",
      "POST /api/v1/auth/passkey/options",
      "POST /api/v1/auth/password-reset",
      "POST /api/v1/auth/password-reset/confirm",
      "POST /api/v1/auth/register",
      "POST /api/v1/auth/register/confirm",
    ]);
    // Deny by default: every guarded operation refuses an anonymous caller before it looks
    // at the input, so even a malformed request learns nothing but 401.
    for (const operation of guarded) {
      const [method, path = ""] = operation.split(" ");
      const response = await t.app.inject({
        method: method as "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
        url: path.replace(/\{[^}]+\}/g, "no such thing!"),
        headers: { origin: "http://localhost:8080", "sec-fetch-site": "same-origin" },
        ...(method === "GET" || method === "DELETE" ? {} : { payload: { unexpected: [1] } }),
      });
      assert.equal(response.statusCode, 401, `${operation}: ${response.body}`);
    }
  });

  it("marks the operations that need a recent proof from a browser session", async () => {
    const document = JSON.parse((await t.app.inject({ url: "/api/v1/openapi.json" })).body) as {
      paths: Record<
        string,
        Record<string, { description?: string; "x-strongroom-step-up"?: true }>
      >;
    };
    const marked: string[] = [];
    for (const [path, methods] of Object.entries(document.paths))
      for (const [method, operation] of Object.entries(methods))
        if (operation["x-strongroom-step-up"] === true) {
          assert.match(String(operation.description), /reauth-required/, `${method} ${path}`);
          marked.push(`${method.toUpperCase()} ${path}`);
        }
    assert.deepEqual(marked.sort(), [
      "DELETE /api/v1/admin/sessions",
      "DELETE /api/v1/admin/users/{username}",
      "DELETE /api/v1/admin/users/{username}/sessions",
      "DELETE /api/v1/me/passkeys/{id}",
      "DELETE /api/v1/me/sessions",
      "DELETE /api/v1/me/sessions/{id}",
      "DELETE /api/v1/vaults/{vault}/members/{username}",
      "GET /api/v1/vaults/{vault}/secrets/{name}",
      "GET /api/v1/vaults/{vault}/secrets/{name}/versions/{n}",
      "PATCH /api/v1/admin/users/{username}",
      "PATCH /api/v1/me",
      "POST /api/v1/admin/users",
      "POST /api/v1/me/mfa/totp",
      "POST /api/v1/me/mfa/totp/confirm",
      "POST /api/v1/me/passkeys",
      "POST /api/v1/me/passkeys/options",
      "POST /api/v1/me/tokens",
      "PUT /api/v1/vaults/{vault}/members/{username}",
    ]);
  });

  it("is rendered at /docs without any external script", async () => {
    const response = await t.app.inject({ url: "/docs", headers: { accept: "text/html" } });
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /PUT \/api\/v1\/vaults\/\{vault\}\/secrets\/\{name\}/);
    assert.doesNotMatch(
      response.body,
      /<script(?![^>]*src="\/static\/app\.js\?v=)/,
      "only our own script",
    );
    assert.doesNotMatch(
      response.body,
      /https?:\/\/(?!127\.0\.0\.1)/,
      "nothing loaded from elsewhere",
    );
  });
});

import type { FastifyInstance } from "fastify";
import secureJson from "secure-json-parse";
import { AppError, badRequest } from "../lib/errors.js";

/** JSON bodies are limited to this many bytes unless a route sets its own `bodyLimit`. */
export const JSON_BODY_LIMIT_BYTES = 128 * 1024;

/** Deepest nesting of arrays and objects accepted in a JSON body. */
export const JSON_MAX_DEPTH = 20;

/**
 * Returns the deepest nesting of `[`/`{` in a JSON text, skipping string contents. Linear in
 * the length and stops as soon as `limit` is passed, so a hostile body costs one scan.
 */
export function jsonNestingDepth(text: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (inString) {
      if (char === 0x5c)
        i++; // backslash: skip the escaped character
      else if (char === 0x22) inString = false;
    } else if (char === 0x22) {
      inString = true;
    } else if (char === 0x7b || char === 0x5b) {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (char === 0x7d || char === 0x5d) {
      depth--;
    }
  }
  return deepest;
}

/**
 * Replaces Fastify's JSON parser with one that also bounds nesting depth, insists on UTF-8
 * and on an unencoded body (no Content-Encoding), and refuses `__proto__` / `constructor.prototype` keys (prototype pollution). Any other
 * content type on a body gets 415 from Fastify itself.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  // Fastify also parses text/plain by default; the API takes JSON and nothing else.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const encoding = request.headers["content-encoding"];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== "identity") {
      // Bodies are never decompressed (no zip bombs); taking encoded bytes as JSON would be a guess.
      done(
        new AppError("unsupported-media-type", 415, "Unsupported media type", {
          detail: "Request bodies must not be compressed: send them without a Content-Encoding.",
        }),
        undefined,
      );
      return;
    }
    const charset = /charset=([^;\s]+)/i.exec(request.headers["content-type"] ?? "")?.[1];
    if (charset !== undefined && !/^"?utf-?8"?$/i.test(charset)) {
      done(
        new AppError("unsupported-media-type", 415, "Unsupported media type", {
          detail: "JSON bodies must be UTF-8.",
        }),
        undefined,
      );
      return;
    }
    const text = body as string;
    if (text.trim() === "") {
      done(badRequest("The request body is empty; send a JSON value."), undefined);
      return;
    }
    if (jsonNestingDepth(text, JSON_MAX_DEPTH) > JSON_MAX_DEPTH) {
      done(
        badRequest(`The JSON body is nested more than ${JSON_MAX_DEPTH} levels deep.`),
        undefined,
      );
      return;
    }
    try {
      done(
        null,
        secureJson.parse(text, undefined, { protoAction: "error", constructorAction: "error" }),
      );
    } catch {
      // The parser's message can quote the body, which may hold a secret: never pass it on.
      done(badRequest("The request body is not valid JSON."), undefined);
    }
  });
}

import type { VNode } from "preact";
import { renderToString } from "preact-render-to-string";

/**
 * Renders a page component to an HTML document. Preact escapes every text and attribute
 * value, so user data can never become markup; raw HTML (`dangerouslySetInnerHTML`) is
 * forbidden by the linter.
 */
export function renderDocument<P>(page: VNode<P>): string {
  return `<!doctype html>${renderToString(page)}`;
}

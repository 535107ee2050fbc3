import type { ComponentChildren, VNode } from "preact";
import { assetUrl } from "./assets.js";
import type { PageContext } from "./web-context.js";

export interface LayoutProps {
  title: string;
  /** Absent on pages rendered outside a request (the error page before a session is known). */
  context?: PageContext;
  children: ComponentChildren;
  /** More same-origin scripts (names in /static/) this page needs, loaded like app.js. */
  scripts?: readonly string[];
}

/** The frame of every page: one same-origin stylesheet and script, no inline script or style. */
export function Layout({ title, context, children, scripts = [] }: LayoutProps): VNode {
  const user = context?.user ?? null;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <title>{`${title} · Strongroom`}</title>
        <link rel="icon" href={assetUrl("favicon.svg")} type="image/svg+xml" />
        <link rel="stylesheet" href={assetUrl("app.css")} />
        <script src={assetUrl("app.js")} defer />
        {scripts.map((name) => (
          <script key={name} src={assetUrl(name)} defer />
        ))}
      </head>
      <body>
        <a class="skip-link" href="#main">
          Skip to content
        </a>
        <header class="site-header">
          <a class="brand" href="/">
            Strongroom
          </a>
          {user !== null ? (
            <nav aria-label="Main">
              <a href="/">Vaults</a>
              <a href="/settings">Settings</a>
              {user.role === "admin" ? <a href="/admin/users">Users</a> : null}
              {user.role === "admin" || user.role === "auditor" ? <a href="/audit">Audit</a> : null}
              <span class="muted">{user.username}</span>
              <form method="post" action="/logout" class="inline">
                <input type="hidden" name="_csrf" value={context?.csrfToken ?? ""} />
                <button type="submit" class="link">
                  Sign out
                </button>
              </form>
            </nav>
          ) : null}
        </header>
        <main id="main">
          {context?.flash ? (
            <p class={`flash ${context.flash.kind}`} role="status" aria-live="polite">
              {context.flash.text}
            </p>
          ) : null}
          {children}
        </main>
      </body>
    </html>
  );
}

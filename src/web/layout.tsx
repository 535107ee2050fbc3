import type { ComponentChildren, VNode } from "preact";

export interface LayoutProps {
  title: string;
  children: ComponentChildren;
}

/** The frame of every page: one same-origin stylesheet, no inline script or style. */
export function Layout({ title, children }: LayoutProps): VNode {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="color-scheme" content="light dark" />
        <title>{`${title} · Strongroom`}</title>
        <link rel="stylesheet" href="/static/app.css" />
      </head>
      <body>
        <header class="site-header">
          <a class="brand" href="/">
            Strongroom
          </a>
        </header>
        <main id="main">{children}</main>
      </body>
    </html>
  );
}

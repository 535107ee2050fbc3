import type { VNode } from "preact";
import { Layout } from "./layout.js";

/** The start page until the vault pages exist. */
export function HomePage(): VNode {
  return (
    <Layout title="Home">
      <h1>Strongroom</h1>
      <p>A self-hosted vault for your team's and your machines' secrets.</p>
      <ul>
        <li>
          <a href="/healthz">Health</a>
        </li>
        <li>
          <a href="/readyz">Readiness</a>
        </li>
      </ul>
    </Layout>
  );
}

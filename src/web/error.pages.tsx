import type { VNode } from "preact";
import { Layout } from "./layout.js";

export interface ErrorPageProps {
  status: number;
  title: string;
  detail: string | undefined;
  requestId: string;
}

/** The HTML error page: status, a safe title and detail, and the request id to quote. */
export function ErrorPage({ status, title, detail, requestId }: ErrorPageProps): VNode {
  return (
    <Layout title={title}>
      <h1>{title}</h1>
      {detail !== undefined ? <p>{detail}</p> : null}
      <p class="muted">
        Error {status}. Request id <code>{requestId}</code>.
      </p>
      <p>
        <a href="/">Back to the start page</a>
      </p>
    </Layout>
  );
}

import type { VNode } from "preact";
import { Field, LinkCodeField } from "./components.js";
import { Layout } from "./layout.js";
import type { PageContext } from "./web-context.js";

/** `/forgot-password`: asks for the e-mail address to send a reset link to. */
export function ForgotPasswordPage({
  context,
  email,
  error,
}: {
  context: PageContext;
  email?: string;
  error?: string;
}): VNode {
  return (
    <Layout title="Forgot your password?" context={context}>
      <h1>Forgot your password?</h1>
      <p>
        Enter the e-mail address of your account and we will send you a link to choose a new one.
      </p>
      <form method="post" action="/forgot-password">
        <Field
          name="email"
          label="E-mail"
          type="email"
          value={email ?? ""}
          error={error}
          autocomplete="email"
          required
        />
        <button type="submit">Send the link</button>
      </form>
      <p>
        <a href="/login">Back to sign in</a>
      </p>
    </Layout>
  );
}

/**
 * The answer to every reset request, whatever the address: it must not tell whether an
 * account exists, so it says "if".
 */
export function ResetMailSentPage({
  context,
  minutes,
}: {
  context: PageContext;
  minutes: number;
}): VNode {
  return (
    <Layout title="Check your mail" context={context}>
      <h1>Check your mail</h1>
      <p>
        If an account uses that address, we sent it a link to choose a new password. The link is
        valid for {minutes} minutes and works once.
      </p>
      <p>
        <a href="/login">Back to sign in</a>
      </p>
    </Layout>
  );
}

/** Reset requests are throttled, or the server cannot send mail at all. */
export function ResetUnavailablePage({
  context,
  reason,
  retryAfterMinutes,
}: {
  context: PageContext;
  reason: "throttled" | "no-mail";
  /** When throttled: how long to wait, rounded up. */
  retryAfterMinutes?: number;
}): VNode {
  return reason === "throttled" ? (
    <Layout title="Please wait" context={context}>
      <h1>Please wait</h1>
      <p role="alert">
        Too many reset requests came from your network. Wait
        {retryAfterMinutes !== undefined
          ? ` about ${retryAfterMinutes} minute${retryAfterMinutes === 1 ? "" : "s"}`
          : " a while"}{" "}
        and try again.
      </p>
      <p>
        <a href="/login">Back to sign in</a>
      </p>
    </Layout>
  ) : (
    <Layout title="Password reset is unavailable" context={context}>
      <h1>Password reset is unavailable</h1>
      <p role="alert">
        This server cannot send e-mail, so it cannot send reset links. Ask an administrator for
        help.
      </p>
      <p>
        <a href="/login">Back to sign in</a>
      </p>
    </Layout>
  );
}

/** `/reset-password#token=…`: the new password; the link's code rides along (see LinkCodeField). */
export function ResetPasswordPage({
  context,
  token,
  error,
}: {
  context: PageContext;
  token: string;
  error?: string;
}): VNode {
  return (
    <Layout title="Choose a new password" context={context}>
      <h1>Choose a new password</h1>
      <form method="post" action="/reset-password">
        <LinkCodeField value={token} />
        <Field
          name="password"
          label="New password (at least 15 characters)"
          type="password"
          error={error}
          autocomplete="new-password"
          required
        />
        <button type="submit">Change password</button>
      </form>
    </Layout>
  );
}

/** A reset link that is unknown, used or expired: one page for all three. */
export function InvalidResetLinkPage({ context }: { context: PageContext }): VNode {
  return (
    <Layout title="This link does not work" context={context}>
      <h1>This link does not work</h1>
      <p role="alert">
        This password-reset link is invalid, already used or expired. Links work once and only for a
        short time.
      </p>
      <p>
        <a href="/forgot-password">Request a new link</a>
      </p>
    </Layout>
  );
}

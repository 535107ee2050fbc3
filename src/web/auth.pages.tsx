import type { VNode } from "preact";
import { Field, LinkCodeField } from "./components.js";
import { Layout } from "./layout.js";
import type { PageContext } from "./web-context.js";

export interface LoginPageProps {
  context: PageContext;
  next: string;
  username?: string;
  error?: string;
  /** Ask for the second factor (the password was right; it must be sent again). */
  askTotp?: boolean;
  registrationOpen: boolean;
}

/** Sign in. The password is never put back into the form. */
export function LoginPage({
  context,
  next,
  username,
  error,
  askTotp = false,
  registrationOpen,
}: LoginPageProps): VNode {
  return (
    <Layout title="Sign in" context={context} scripts={["passkeys.js"]}>
      <h1>Sign in</h1>
      {error !== undefined ? (
        <p class="flash error" role="alert">
          {error}
        </p>
      ) : null}
      <form method="post" action={`/login?next=${encodeURIComponent(next)}`}>
        <Field
          name="username"
          label="Username or e-mail"
          value={username ?? ""}
          autocomplete="username"
          required
        />
        <Field
          name="password"
          label="Password"
          type="password"
          autocomplete="current-password"
          required
        />
        {askTotp ? (
          <>
            <Field
              name="totp"
              label="Two-factor code (or a recovery code)"
              autocomplete="one-time-code"
              required
            />
            {/* Filled by /static/passkeys.js with a passkey answer, sent instead of the code. */}
            <input type="hidden" name="passkey" value="" />
          </>
        ) : null}
        <button type="submit">Sign in</button>
        {askTotp ? (
          <button type="button" id="passkey-second-factor" class="secondary" hidden>
            Use a passkey instead of a code
          </button>
        ) : null}
      </form>
      <p id="passkey-signin-status" class="flash error" role="alert" hidden />
      {askTotp ? null : (
        <p>
          <button type="button" id="passkey-signin" class="secondary" data-next={next} hidden>
            Use a passkey
          </button>
        </p>
      )}
      <p>
        <a href="/forgot-password">Forgot your password?</a>
      </p>
      {registrationOpen ? (
        <p>
          No account? <a href="/register">Create one</a>.
        </p>
      ) : null}
    </Layout>
  );
}

export interface RegisterPageProps {
  context: PageContext;
  values?: { username?: string; email?: string };
  errors?: Record<string, string>;
}

export function RegisterPage({ context, values = {}, errors = {} }: RegisterPageProps): VNode {
  return (
    <Layout title="Create an account" context={context}>
      <h1>Create an account</h1>
      <form method="post" action="/register">
        <Field
          name="username"
          label="Username (4–25 letters, digits or _)"
          value={values.username ?? ""}
          error={errors.username}
          autocomplete="username"
          required
        />
        <Field
          name="email"
          label="E-mail"
          type="email"
          value={values.email ?? ""}
          error={errors.email}
          autocomplete="email"
          required
        />
        <Field
          name="password"
          label="Password (at least 15 characters)"
          type="password"
          error={errors.password}
          autocomplete="new-password"
          required
        />
        <button type="submit">Create account</button>
      </form>
    </Layout>
  );
}

export function RegisterSentPage({ context }: { context: PageContext }): VNode {
  return (
    <Layout title="Check your mail" context={context}>
      <h1>Check your mail</h1>
      <p>We sent a link to confirm your account. It is valid for 24 hours.</p>
    </Layout>
  );
}

/** The page a sign-up link opens: one button, so the link itself changes nothing. */
export function ConfirmRegistrationPage({
  context,
  token,
  error,
}: {
  context: PageContext;
  token: string;
  error?: string;
}): VNode {
  return (
    <Layout title="Confirm your account" context={context}>
      <h1>Confirm your account</h1>
      {error !== undefined ? (
        <p class="flash error" role="alert">
          {error}
        </p>
      ) : null}
      <form method="post" action="/register/confirm">
        <LinkCodeField value={token} />
        <button type="submit">Confirm</button>
      </form>
    </Layout>
  );
}

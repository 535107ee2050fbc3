import type { VNode } from "preact";
import { Field, PostForm } from "./components.js";
import { Layout } from "./layout.js";
import type { PageContext } from "./web-context.js";

export interface ReauthPageProps {
  context: PageContext;
  /** The same-site path to go back to afterwards (already checked by `safeNextPath`). */
  next: string;
  /** Offer a two-factor code as the alternative to the password. */
  mfaEnabled: boolean;
  /** Offer the user's passkeys too (driven by /static/passkeys.js). */
  passkeyEnabled?: boolean;
  error?: string;
}

/**
 * Step-up: confirm the password (or a two-factor code) before a sensitive action, then go
 * back to where it started. Neither the password nor the code is ever put back into the form.
 */
export function ReauthPage({
  context,
  next,
  mfaEnabled,
  passkeyEnabled = false,
  error,
}: ReauthPageProps): VNode {
  return (
    <Layout
      title="Confirm it is you"
      context={context}
      scripts={passkeyEnabled ? ["passkeys.js"] : []}
    >
      <h1>Confirm it is you</h1>
      <p>
        Revealing secrets, creating API tokens and changing members, your e-mail address or
        two-factor authentication need your password again after a while.
      </p>
      {error !== undefined ? (
        <p class="flash error" role="alert">
          {error}
        </p>
      ) : null}
      <PostForm action={`/reauth?next=${encodeURIComponent(next)}`} csrfToken={context.csrfToken}>
        <Field
          name="password"
          label="Password"
          type="password"
          autocomplete="current-password"
          required={!mfaEnabled}
        />
        {mfaEnabled ? (
          <Field
            name="totp"
            label="Or a code from your authenticator app (or a recovery code)"
            autocomplete="one-time-code"
          />
        ) : null}
        <button type="submit">Confirm</button>
      </PostForm>
      {passkeyEnabled ? (
        <>
          <p id="passkey-signin-status" class="flash error" role="alert" hidden />
          <p>
            <button
              type="button"
              id="passkey-reauth"
              class="secondary"
              data-next={next}
              data-csrf={context.csrfToken}
              hidden
            >
              Confirm with a passkey
            </button>
          </p>
        </>
      ) : null}
      <p>
        <a href={next}>Cancel</a>
      </p>
    </Layout>
  );
}

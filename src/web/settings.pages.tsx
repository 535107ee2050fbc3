import type { ComponentChildren, VNode } from "preact";
import { Field, PostForm, Time } from "./components.js";
import { Layout } from "./layout.js";
import type { PageContext } from "./web-context.js";

/** The signed-in user's profile as the settings page shows it (from `presentMe`). */
export interface ProfileView {
  username: string;
  email: string;
  role: string;
  mfaEnabled: boolean;
  passkeyEnabled?: boolean;
  lastLoginAt: string | null;
  lastLoginAddress: string | null;
  failedLoginsBeforeLastLogin: number;
  failedLoginsSinceLastLogin: number;
}

/** One live session (from `presentSession`). */
export interface SessionView {
  id: string;
  userAgent: string | null;
  address: string | null;
  createdAt: string;
  lastSeenAt: string;
  current: boolean;
}

/** One passkey as listed. */
export interface PasskeyView {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** One API token as listed: never its text. */
export interface TokenView {
  id: string;
  name: string;
  scopes: ReadonlyArray<{ vault: string; permission: string }>;
  expiresAt: string;
  lastUsedAt: string | null;
  status: "active" | "expired" | "revoked";
}

export interface SettingsView {
  profile: ProfileView;
  sessions: SessionView[];
  passkeys: PasskeyView[];
  /** Null when the user may not manage API tokens (auditors). */
  tokens: TokenView[] | null;
  /** Slugs of the user's vaults, to choose a token's scope from. */
  vaults: string[];
  /** `REQUIRE_MFA` holds this session to two-factor enrolment: only that is offered. */
  mfaEnrolmentRequired: boolean;
}

export interface SettingsPageProps {
  context: PageContext;
  view: SettingsView;
  /** Errors by field name; `sessions` and `tokens` are errors of a whole section. */
  errors?: Record<string, string>;
  /** What the user typed, to put back into the forms (never a password). */
  values?: Record<string, string>;
  /** A token just created: its text is on this one page and nowhere else, ever. */
  createdToken?: { name: string; token: string };
}

/** Longest user agent shown; the rest is cut (the full text adds nothing for a person). */
const USER_AGENT_SHOWN_MAX = 160;
/** The default lifetime offered for a new API token, in days. */
const DEFAULT_TOKEN_DAYS = 90;

/** An error for a whole section (a hidden-field form has no field to put it by). */
function SectionError({ message }: { message: string | undefined }): VNode | null {
  if (message === undefined) return null;
  return (
    <p class="flash error" role="alert">
      {message}
    </p>
  );
}

/** A labelled select or number input, tied to its error like `Field`. */
function Control({
  name,
  label,
  error,
  children,
}: {
  name: string;
  label: string;
  error: string | undefined;
  children: (attributes: {
    id: string;
    name: string;
    "aria-invalid": "true" | undefined;
    "aria-describedby": string | undefined;
  }) => ComponentChildren;
}): VNode {
  const id = `field-${name}`;
  const errorId = `${id}-error`;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {children({
        id,
        name,
        "aria-invalid": error !== undefined ? "true" : undefined,
        "aria-describedby": error !== undefined ? errorId : undefined,
      })}
      {error !== undefined ? (
        <p class="field-error" id={errorId} aria-live="polite">
          {error}
        </p>
      ) : null}
    </div>
  );
}

function ProfileSection({ context, view, errors, values }: SectionProps): VNode {
  const { profile } = view;
  return (
    <section aria-labelledby="profile-heading">
      <h2 id="profile-heading">Profile</h2>
      <dl>
        <dt>Username</dt>
        <dd>{profile.username}</dd>
        <dt>E-mail</dt>
        <dd>{profile.email}</dd>
        <dt>Role</dt>
        <dd>{profile.role}</dd>
        <dt>Last sign-in</dt>
        <dd>
          <Time iso={profile.lastLoginAt} />
          {profile.lastLoginAddress !== null ? ` from ${profile.lastLoginAddress}` : ""}
        </dd>
        <dt>Failed sign-in attempts</dt>
        <dd>
          {`${profile.failedLoginsBeforeLastLogin} before your last sign-in, ${profile.failedLoginsSinceLastLogin} since`}
        </dd>
      </dl>
      <h3>Change e-mail</h3>
      <PostForm action="/settings/email" csrfToken={context.csrfToken}>
        <Field
          name="email"
          label="New e-mail address"
          type="email"
          value={values.email ?? profile.email}
          error={errors.email}
          autocomplete="email"
          required
        />
        <button type="submit">Change e-mail</button>
      </PostForm>
    </section>
  );
}

function PasswordSection({ context, errors }: SectionProps): VNode {
  return (
    <section aria-labelledby="password-heading">
      <h2 id="password-heading">Password</h2>
      <p class="muted">Changing it signs you out everywhere else.</p>
      <PostForm action="/settings/password" csrfToken={context.csrfToken}>
        <Field
          name="currentPassword"
          label="Current password"
          type="password"
          error={errors.currentPassword}
          autocomplete="current-password"
          required
        />
        <Field
          name="newPassword"
          label="New password (at least 15 characters)"
          type="password"
          error={errors.newPassword}
          autocomplete="new-password"
          required
        />
        <button type="submit">Change password</button>
      </PostForm>
    </section>
  );
}

function TwoFactorSection({ context, view, errors }: SectionProps): VNode {
  return (
    <section aria-labelledby="mfa-heading">
      <h2 id="mfa-heading">Two-factor authentication</h2>
      {view.profile.mfaEnabled ? (
        <>
          <p>On: signing in asks for a code from your authenticator app.</p>
          <PostForm
            action="/settings/mfa/remove"
            csrfToken={context.csrfToken}
            confirm="Remove two-factor authentication? Your recovery codes stop working."
          >
            <Field
              name="password"
              label="Your password, to remove it"
              type="password"
              error={errors.password}
              autocomplete="current-password"
              required
            />
            <button type="submit" class="danger">
              Remove two-factor authentication
            </button>
          </PostForm>
        </>
      ) : (
        <>
          <p>
            {view.profile.passkeyEnabled
              ? "No authenticator app. Your passkeys are your second factor (see below); you can add a code from an app as well."
              : "Off. Add a code from an authenticator app to every sign-in."}
          </p>
          <PostForm action="/settings/mfa/start" csrfToken={context.csrfToken}>
            <button type="submit">Set up two-factor authentication</button>
          </PostForm>
        </>
      )}
    </section>
  );
}

/**
 * Passkeys: listed and removed with plain forms; adding one needs WebAuthn, so its form is
 * shown and driven by /static/passkeys.js (without it, the page says so).
 */
function PasskeysSection({ context, view, errors }: SectionProps): VNode {
  return (
    <section aria-labelledby="passkeys-heading">
      <h2 id="passkeys-heading">Passkeys</h2>
      <p>
        A passkey signs you in with your device's screen lock or a security key, without the
        password. Once you have one, signing in with the password also asks for a passkey or a code.
      </p>
      <SectionError message={errors.passkeys} />
      {view.passkeys.length === 0 ? (
        <p class="muted">No passkeys yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Added</th>
              <th scope="col">Last used</th>
              <th scope="col">Action</th>
            </tr>
          </thead>
          <tbody>
            {view.passkeys.map((passkey) => (
              <tr key={passkey.id}>
                <td>{passkey.name}</td>
                <td>
                  <Time iso={passkey.createdAt} />
                </td>
                <td>{passkey.lastUsedAt === null ? "never" : <Time iso={passkey.lastUsedAt} />}</td>
                <td>
                  <PostForm
                    action="/settings/passkeys/remove"
                    csrfToken={context.csrfToken}
                    class="inline"
                    confirm={`Remove the passkey "${passkey.name}"?`}
                  >
                    <input type="hidden" name="id" value={passkey.id} />
                    <button type="submit" class="danger">
                      Remove
                    </button>
                  </PostForm>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form id="passkey-add" data-csrf={context.csrfToken} hidden>
        <Field name="passkeyName" label="Name for the new passkey" value="" required />
        <button type="submit">Add a passkey</button>
        <p id="passkey-add-status" role="alert" hidden />
      </form>
      <noscript>
        <p class="muted">Adding a passkey needs JavaScript (your browser asks the device).</p>
      </noscript>
    </section>
  );
}

function SessionsSection({ context, view, errors }: SectionProps): VNode {
  const others = view.sessions.filter((session) => !session.current).length;
  return (
    <section aria-labelledby="sessions-heading">
      <h2 id="sessions-heading">Sessions</h2>
      <SectionError message={errors.sessions} />
      <table>
        <thead>
          <tr>
            <th scope="col">Device</th>
            <th scope="col">Address</th>
            <th scope="col">Signed in</th>
            <th scope="col">Last seen</th>
            <th scope="col">Action</th>
          </tr>
        </thead>
        <tbody>
          {view.sessions.map((session) => (
            <tr key={session.id}>
              <td>
                {session.userAgent !== null && session.userAgent !== ""
                  ? session.userAgent.slice(0, USER_AGENT_SHOWN_MAX)
                  : "Unknown device"}
                {session.current ? <strong> (this device)</strong> : null}
              </td>
              <td>{session.address ?? "unknown"}</td>
              <td>
                <Time iso={session.createdAt} />
              </td>
              <td>
                <Time iso={session.lastSeenAt} />
              </td>
              <td>
                {session.current ? null : (
                  <PostForm
                    action="/settings/sessions/revoke"
                    csrfToken={context.csrfToken}
                    class="inline"
                  >
                    <input type="hidden" name="id" value={session.id} />
                    <button type="submit" class="danger">
                      Sign out
                    </button>
                  </PostForm>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {others > 0 ? (
        <PostForm
          action="/settings/sessions/revoke-others"
          csrfToken={context.csrfToken}
          confirm="Sign out every other device?"
        >
          <button type="submit" class="danger">
            Sign out everywhere else
          </button>
        </PostForm>
      ) : null}
    </section>
  );
}

function TokensTable({ context, tokens }: { context: PageContext; tokens: TokenView[] }): VNode {
  if (tokens.length === 0) return <p>You have no API tokens.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">Scopes</th>
          <th scope="col">Expires</th>
          <th scope="col">Last used</th>
          <th scope="col">Status</th>
        </tr>
      </thead>
      <tbody>
        {tokens.map((token) => (
          <tr key={token.id}>
            <td>{token.name}</td>
            <td>
              {token.scopes.length === 0
                ? "none left"
                : token.scopes.map((scope) => `${scope.vault}: ${scope.permission}`).join(", ")}
            </td>
            <td>
              <Time iso={token.expiresAt} />
            </td>
            <td>
              <Time iso={token.lastUsedAt} />
            </td>
            <td>
              {token.status === "active" ? (
                <PostForm
                  action="/settings/tokens/revoke"
                  csrfToken={context.csrfToken}
                  class="inline"
                  confirm={`Revoke the API token ${token.name}? Programs using it stop working.`}
                >
                  <input type="hidden" name="id" value={token.id} />
                  <button type="submit" class="danger" aria-label={`Revoke ${token.name}`}>
                    Revoke
                  </button>
                </PostForm>
              ) : (
                token.status
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function TokensSection({
  context,
  view,
  errors,
  values,
  createdToken,
}: SectionProps & { createdToken: SettingsPageProps["createdToken"] }): VNode | null {
  if (view.tokens === null) return null;
  return (
    <section aria-labelledby="tokens-heading">
      <h2 id="tokens-heading">API tokens</h2>
      {createdToken !== undefined ? (
        <div role="status" aria-live="polite">
          <p class="flash success">
            {`Token ${createdToken.name} created. Copy it now: it will not be shown again.`}
          </p>
          <pre class="secret-value" id="new-token">
            {createdToken.token}
          </pre>
          <button type="button" data-copy="new-token">
            Copy
          </button>
        </div>
      ) : null}
      <SectionError message={errors.tokens} />
      <TokensTable context={context} tokens={view.tokens} />
      <h3>New token</h3>
      {view.vaults.length === 0 ? (
        <p>
          A token works in vaults you are a member of. <a href="/">Create a vault</a> first.
        </p>
      ) : (
        <PostForm action="/settings/tokens" csrfToken={context.csrfToken}>
          <Field name="name" label="Name" value={values.name ?? ""} error={errors.name} required />
          <Control name="vault" label="Vault" error={errors.vault}>
            {(attributes) => (
              <select {...attributes} required>
                {view.vaults.map((slug) => (
                  <option key={slug} value={slug} selected={values.vault === slug}>
                    {slug}
                  </option>
                ))}
              </select>
            )}
          </Control>
          <Control name="permission" label="Permission" error={errors.permission}>
            {(attributes) => (
              <select {...attributes} required>
                <option value="read" selected={values.permission !== "write"}>
                  read
                </option>
                <option value="write" selected={values.permission === "write"}>
                  write
                </option>
              </select>
            )}
          </Control>
          <Control
            name="expiresInDays"
            label="Expires after (days, 1–365)"
            error={errors.expiresInDays}
          >
            {(attributes) => (
              <input
                {...attributes}
                type="number"
                min={1}
                max={365}
                step={1}
                inputMode="numeric"
                value={values.expiresInDays ?? String(DEFAULT_TOKEN_DAYS)}
                required
              />
            )}
          </Control>
          <button type="submit">Create token</button>
        </PostForm>
      )}
    </section>
  );
}

interface SectionProps {
  context: PageContext;
  view: SettingsView;
  errors: Record<string, string>;
  values: Record<string, string>;
}

/** The settings page: profile, password, two-factor, sessions and API tokens. */
export function SettingsPage({
  context,
  view,
  errors = {},
  values = {},
  createdToken,
}: SettingsPageProps): VNode {
  const sections = { context, view, errors, values };
  if (view.mfaEnrolmentRequired)
    return (
      <Layout title="Settings" context={context}>
        <h1>Settings</h1>
        <p class="flash error" role="alert">
          This server requires two-factor authentication for your account. Set it up to continue:
          until then, nothing else is available.
        </p>
        <TwoFactorSection {...sections} />
      </Layout>
    );
  return (
    <Layout title="Settings" context={context} scripts={["passkeys.js"]}>
      <h1>Settings</h1>
      <ProfileSection {...sections} />
      <PasswordSection {...sections} />
      <TwoFactorSection {...sections} />
      <PasskeysSection {...sections} />
      <SessionsSection {...sections} />
      <TokensSection {...sections} createdToken={createdToken} />
    </Layout>
  );
}

export interface TotpEnrolmentPageProps {
  context: PageContext;
  /** The new secret, as a QR code (a data: URL) and as text: on the start page only. */
  enrolment?: { qrCode: string; secret: string };
  /** Why the code was refused. */
  error?: string;
}

/** Step two of enrolment: scan (or type) the secret, then prove it with a code. */
export function TotpEnrolmentPage({ context, enrolment, error }: TotpEnrolmentPageProps): VNode {
  return (
    <Layout title="Set up two-factor authentication" context={context}>
      <h1>Set up two-factor authentication</h1>
      {enrolment !== undefined ? (
        <>
          <p>Scan this code with your authenticator app, or type the key below into it.</p>
          <img
            src={enrolment.qrCode}
            alt="QR code to add Strongroom to your authenticator app"
            width={200}
            height={200}
          />
          <p>
            Key: <code id="totp-secret">{enrolment.secret}</code>
          </p>
        </>
      ) : (
        <p>Enter the code your authenticator app shows for Strongroom.</p>
      )}
      <PostForm action="/settings/mfa/confirm" csrfToken={context.csrfToken}>
        <Field
          name="code"
          label="The 6-digit code from your app"
          error={error}
          autocomplete="one-time-code"
          required
        />
        <button type="submit">Turn on two-factor authentication</button>
      </PostForm>
      {enrolment === undefined ? (
        <PostForm action="/settings/mfa/start" csrfToken={context.csrfToken}>
          <button type="submit" class="link">
            Start again with a new key
          </button>
        </PostForm>
      ) : null}
      <p>
        <a href="/settings">Cancel</a>
      </p>
    </Layout>
  );
}

/** The end of enrolment: the recovery codes, shown this once (the response is no-store). */
export function RecoveryCodesPage({
  context,
  codes,
}: {
  context: PageContext;
  codes: readonly string[];
}): VNode {
  return (
    <Layout title="Save your recovery codes" context={context}>
      <h1>Save your recovery codes</h1>
      <p class="flash success" role="status">
        Two-factor authentication is on.
      </p>
      <p>
        If you lose your authenticator app, each of these codes signs you in once. Keep them
        somewhere safe: they will not be shown again.
      </p>
      <pre class="secret-value" id="recovery-codes">
        {codes.join("\n")}
      </pre>
      <button type="button" data-copy="recovery-codes">
        Copy
      </button>
      <p>
        <a href="/settings">I have saved them — back to settings</a>
      </p>
    </Layout>
  );
}

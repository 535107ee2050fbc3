import type { VNode } from "preact";
import type { SecretType, SecretValue } from "../vaults/secret-types.js";
import { maskCardNumber } from "../vaults/secret-types.js";
import { Field, PostForm, Time } from "./components.js";
import { Layout } from "./layout.js";
import type { PageContext } from "./web-context.js";

export interface VaultSummary {
  slug: string;
  description: string;
  role: string;
}

export function VaultsPage({
  context,
  vaults,
  errors = {},
  values = {},
}: {
  context: PageContext;
  vaults: VaultSummary[];
  errors?: Record<string, string>;
  values?: Record<string, string>;
}): VNode {
  return (
    <Layout title="Vaults" context={context}>
      <h1>Your vaults</h1>
      {vaults.length === 0 ? (
        <p>You are not a member of any vault yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Vault</th>
              <th scope="col">Description</th>
              <th scope="col">Your role</th>
            </tr>
          </thead>
          <tbody>
            {vaults.map((vault) => (
              <tr key={vault.slug}>
                <td>
                  <a href={`/vaults/${encodeURIComponent(vault.slug)}`}>{vault.slug}</a>
                </td>
                <td>{vault.description}</td>
                <td>{vault.role}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>New vault</h2>
      <PostForm action="/vaults" csrfToken={context.csrfToken}>
        <Field
          name="slug"
          label="Name (a-z, 0-9 and -)"
          value={values.slug ?? ""}
          error={errors.slug}
          required
        />
        <Field
          name="description"
          label="Description"
          value={values.description ?? ""}
          error={errors.description}
        />
        <button type="submit">Create vault</button>
      </PostForm>
    </Layout>
  );
}

export interface SecretSummary {
  name: string;
  version: number;
  updatedAt: string;
  /** Null: never expires. */
  expiresAt: string | null;
  expired: boolean;
}

/** Expiry times are entered and shown in UTC, like every time on these pages. */
const EXPIRY_HINT = "UTC, e.g. 2030-01-31T12:00. Leave empty to keep the current expiry.";

/** "Expires …" / "Expired …" / nothing, for a secret's expiry. */
function Expiry({ expiresAt, expired }: { expiresAt: string | null; expired: boolean }): VNode {
  if (expiresAt === null) return <span class="muted">never</span>;
  return expired ? (
    <strong class="expired">
      expired <Time iso={expiresAt} />
    </strong>
  ) : (
    <Time iso={expiresAt} />
  );
}

export interface VaultPageProps {
  context: PageContext;
  vault: VaultSummary;
  secrets: SecretSummary[];
  nextCursor: string | null;
  /** The current name filter ("" for none). */
  search: string;
  /** The "expiring within N days" filter, null for none. */
  expiringWithinDays: number | null;
  members: Array<{ username: string; role: string }> | null;
  canWrite: boolean;
  errors?: Record<string, string>;
  values?: Record<string, string>;
}

export function VaultPage({
  context,
  vault,
  secrets,
  nextCursor,
  search,
  expiringWithinDays,
  members,
  canWrite,
  errors = {},
  values = {},
}: VaultPageProps): VNode {
  const base = `/vaults/${encodeURIComponent(vault.slug)}`;
  const filtered = search !== "" || expiringWithinDays !== null;
  const nextPage = new URLSearchParams();
  if (search !== "") nextPage.set("q", search);
  if (expiringWithinDays !== null) nextPage.set("expiring", String(expiringWithinDays));
  return (
    <Layout title={vault.slug} context={context}>
      <h1>{vault.slug}</h1>
      {vault.description !== "" ? <p>{vault.description}</p> : null}
      <h2>Secrets</h2>
      <form method="get" action={base} aria-label="Find secrets">
        <div class="field">
          <label for="field-q">Find by name</label>
          <input id="field-q" name="q" type="search" value={search} />
        </div>
        <div class="field">
          <label for="field-expiring">Expiring within (days)</label>
          <input
            id="field-expiring"
            name="expiring"
            type="number"
            min="0"
            max="3650"
            value={expiringWithinDays === null ? "" : String(expiringWithinDays)}
            aria-describedby="field-expiring-hint"
          />
          <p class="muted" id="field-expiring-hint">
            Leave empty for all secrets; expired ones are always included.
          </p>
        </div>
        <button type="submit">Search</button>
      </form>
      {secrets.length === 0 ? (
        <p>{filtered ? "No secret matches." : "No secrets yet."}</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Version</th>
              <th scope="col">Updated</th>
              <th scope="col">Expires</th>
            </tr>
          </thead>
          <tbody>
            {secrets.map((secret) => (
              <tr key={secret.name}>
                <td>
                  <a href={`${base}/secrets/${encodeURIComponent(secret.name)}`}>{secret.name}</a>
                </td>
                <td>{secret.version}</td>
                <td>
                  <Time iso={secret.updatedAt} />
                </td>
                <td>
                  <Expiry expiresAt={secret.expiresAt} expired={secret.expired} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {nextCursor !== null ? (
        <a
          href={`${base}?${nextPage.toString()}${nextPage.size > 0 ? "&" : ""}cursor=${encodeURIComponent(nextCursor)}`}
        >
          Next page
        </a>
      ) : null}
      {canWrite ? (
        <>
          <h2>Add a secret</h2>
          <PostForm action={`${base}/secrets`} csrfToken={context.csrfToken}>
            {/* Create only: an existing name is refused rather than given a new version. */}
            <input type="hidden" name="ifVersion" value="0" />
            <Field
              name="name"
              label="Name (letters, digits, _ . -)"
              value={values.name ?? ""}
              error={errors.name}
              required
            />
            <TypedValueFields
              type={values.type ?? "generic"}
              draft={values}
              errors={errors}
              valueLabel="Value"
            />
            <Field
              name="note"
              label="Note (optional)"
              multiline
              value={values.note ?? ""}
              error={errors.note}
            />
            <Field
              name="expiresAt"
              label="Expires at (optional)"
              type="datetime-local"
              hint="UTC. After it, the value can no longer be revealed."
              value={values.expiresAt ?? ""}
              error={errors.expiresAt}
            />
            <button type="submit">Save secret</button>
          </PostForm>
        </>
      ) : null}
      {members !== null ? (
        <>
          <h2>Members</h2>
          <ul>
            {members.map((member) => (
              <li key={member.username}>
                {member.username} — {member.role}{" "}
                <PostForm
                  action={`${base}/members/${encodeURIComponent(member.username)}/remove`}
                  csrfToken={context.csrfToken}
                  class="inline"
                  confirm={`Remove ${member.username} from ${vault.slug}?`}
                >
                  <button type="submit" class="link">
                    Remove<span class="visually-hidden"> {member.username}</span>
                  </button>
                </PostForm>
              </li>
            ))}
          </ul>
          <PostForm action={`${base}/members`} csrfToken={context.csrfToken}>
            <Field name="username" label="Member's username" error={errors.username} required />
            <div class="field">
              <label for="field-role">Role</label>
              <select id="field-role" name="role">
                <option value="viewer">viewer</option>
                <option value="editor">editor</option>
                <option value="owner">owner</option>
              </select>
            </div>
            <button type="submit">Add or change member</button>
          </PostForm>
        </>
      ) : null}
    </Layout>
  );
}

/** A revealed version, as the secret page shows it once. */
export interface RevealedValue {
  type: SecretType;
  value: SecretValue;
  note: string | null;
  version: number;
}

/** Human names of the secret types. */
const TYPE_LABELS: Record<string, string> = {
  generic: "Generic",
  password: "Password",
  api_key: "API key",
  note: "Secure note",
  credential: "Credential",
  card: "Payment card",
};

/**
 * The value part of a write form: a type and, by type, the one value (string types) or the
 * credential's or card's fields. All are shown (the pages work without JavaScript); the
 * server reads only those of the chosen type. Field names are prefixed so that they never
 * collide with other forms' ids on the same page.
 */
function TypedValueFields({
  type,
  draft = {},
  errors = {},
  valueLabel,
  typeFixed,
}: {
  type: string;
  draft?: Record<string, string>;
  errors?: Record<string, string>;
  valueLabel: string;
  /** True: a new version keeps the type unless changed on purpose. */
  typeFixed?: boolean;
}): VNode {
  return (
    <>
      <div class="field">
        <label for="field-type">Type</label>
        <select id="field-type" name="type">
          {Object.entries(TYPE_LABELS).map(([value, label]) => (
            <option key={value} value={value} selected={value === type}>
              {label}
              {typeFixed === true && value === type ? " (current)" : ""}
            </option>
          ))}
        </select>
        {errors.type !== undefined ? (
          <p class="field-error" aria-live="polite">
            {errors.type}
          </p>
        ) : null}
      </div>
      <Field
        name="value"
        label={valueLabel}
        hint="For a generic value, password, API key or note."
        multiline
        value={draft.value}
        error={errors.value}
      />
      <fieldset>
        <legend>Credential</legend>
        <Field
          name="cred_username"
          label="Username"
          value={draft.cred_username}
          error={errors.cred_username}
        />
        <Field
          name="cred_password"
          label="Password"
          type="password"
          autocomplete="new-password"
          error={errors.cred_password}
        />
        <Field
          name="cred_url"
          label="URL (optional)"
          value={draft.cred_url}
          error={errors.cred_url}
        />
      </fieldset>
      <fieldset>
        <legend>Payment card</legend>
        <Field
          name="card_holder"
          label="Card holder"
          value={draft.card_holder}
          error={errors.card_holder}
        />
        <Field name="card_number" label="Card number" error={errors.card_number} />
        <Field
          name="card_expMonth"
          label="Expiry month (1–12)"
          value={draft.card_expMonth}
          error={errors.card_expMonth}
        />
        <Field
          name="card_expYear"
          label="Expiry year (e.g. 2030)"
          value={draft.card_expYear}
          error={errors.card_expYear}
        />
        <Field name="card_cvc" label="CVC (optional)" error={errors.card_cvc} />
      </fieldset>
    </>
  );
}

/** One field of a revealed value, with a copy button; `masked` hides it behind a disclosure. */
function RevealedField({
  id,
  label,
  text,
  masked,
}: {
  id: string;
  label: string;
  text: string;
  /** What stands for the text until the user opens it, e.g. `•••• 4242`. */
  masked?: string;
}): VNode {
  const value = (
    <pre class="secret-value" id={id}>
      {text}
    </pre>
  );
  return (
    <div class="field">
      <p>
        <strong>{label}</strong>
      </p>
      {masked === undefined ? (
        value
      ) : (
        <details>
          <summary>
            {masked} <span class="muted">(show)</span>
          </summary>
          {value}
        </details>
      )}
      <button type="button" data-copy={id}>
        Copy<span class="visually-hidden"> {label}</span>
      </button>
    </div>
  );
}

/** A revealed value in its type's shape: secrets inside it stay masked until opened. */
function RevealedValueView({ revealed }: { revealed: RevealedValue }): VNode {
  const { value } = revealed;
  if (typeof value === "string")
    return <RevealedField id="secret-value" label="Value" text={value} masked="••••••••" />;
  if ("username" in value)
    return (
      <>
        <RevealedField id="secret-username" label="Username" text={value.username} />
        <RevealedField
          id="secret-password"
          label="Password"
          text={value.password}
          masked="••••••••"
        />
        {value.url !== undefined ? (
          <RevealedField id="secret-url" label="URL" text={value.url} />
        ) : null}
      </>
    );
  return (
    <>
      <RevealedField id="secret-holder" label="Card holder" text={value.holder} />
      <RevealedField
        id="secret-number"
        label="Card number"
        text={value.number}
        masked={maskCardNumber(value.number)}
      />
      <RevealedField
        id="secret-expiry"
        label="Expires"
        text={`${String(value.expMonth).padStart(2, "0")}/${value.expYear}`}
      />
      {value.cvc !== undefined ? (
        <RevealedField id="secret-cvc" label="CVC" text={value.cvc} masked="•••" />
      ) : null}
    </>
  );
}

export interface SecretPageProps {
  context: PageContext;
  vault: string;
  secret: {
    name: string;
    version: number;
    /** Shown before any reveal: what kind of value this is. */
    type: string;
    updatedAt: string;
    expiresAt: string | null;
    expired: boolean;
  };
  versions: Array<{ version: number; createdAt: string; createdBy: string | null }>;
  /** Present only on the response to "Reveal": shown once, never cached. */
  revealed?: RevealedValue;
  canWrite: boolean;
  /**
   * Someone else changed the secret since this page was loaded: what to tell the user. The
   * page then shows the current version, and `draft` keeps what they typed.
   */
  conflict?: string;
  /** The value and note the user submitted, kept after a conflict so nothing typed is lost. */
  draft?: Record<string, string>;
  /** Owners may change the expiry (extend an expired secret) without a new version. */
  canSetExpiry: boolean;
  /** Field errors of the new-version and expiry forms. */
  errors?: Record<string, string>;
}

export function SecretPage({
  context,
  vault,
  secret,
  versions,
  revealed,
  canWrite,
  conflict,
  draft,
  canSetExpiry,
  errors = {},
}: SecretPageProps): VNode {
  const base = `/vaults/${encodeURIComponent(vault)}/secrets/${encodeURIComponent(secret.name)}`;
  // Every write form carries the version it was loaded with: the server refuses the write
  // (and says so here) if another one landed in between, instead of silently overwriting it.
  const loadedVersion = (): VNode => (
    <input type="hidden" name="ifVersion" value={String(secret.version)} />
  );
  return (
    <Layout title={secret.name} context={context}>
      <p>
        <a href={`/vaults/${encodeURIComponent(vault)}`}>← {vault}</a>
      </p>
      <h1>{secret.name}</h1>
      {conflict !== undefined ? (
        <p class="flash error" role="alert" id="conflict">
          {conflict}
        </p>
      ) : null}
      <p class="muted">
        {TYPE_LABELS[secret.type] ?? secret.type}, version {secret.version}, updated{" "}
        <Time iso={secret.updatedAt} />
        {secret.expiresAt !== null && !secret.expired ? (
          <>
            , expires <Time iso={secret.expiresAt} />
          </>
        ) : null}
      </p>
      {secret.expired && secret.expiresAt !== null ? (
        <p class="flash error" role="status">
          Expired <Time iso={secret.expiresAt} />: its value can no longer be revealed.{" "}
          {canSetExpiry
            ? "Extend the expiry below, or delete it."
            : "A vault owner can extend or delete it."}
        </p>
      ) : revealed !== undefined ? (
        <section aria-label="Secret value">
          {typeof revealed.value === "string" &&
          revealed.type !== "password" &&
          revealed.type !== "api_key" ? (
            <>
              <pre class="secret-value" id="secret-value">
                {revealed.value}
              </pre>
              <button type="button" data-copy="secret-value">
                Copy
              </button>
            </>
          ) : (
            <RevealedValueView revealed={revealed} />
          )}
          {revealed.note !== null ? <p class="secret-note">{revealed.note}</p> : null}
        </section>
      ) : (
        <PostForm action={`${base}/reveal`} csrfToken={context.csrfToken}>
          <button type="submit">Reveal</button>
        </PostForm>
      )}
      {canWrite ? (
        <>
          <p>
            <a href={`${base}/shares`}>Share links</a>: let someone without an account see the value
            once.
          </p>
          <h2>New version</h2>
          <PostForm
            action={`/vaults/${encodeURIComponent(vault)}/secrets`}
            csrfToken={context.csrfToken}
          >
            <input type="hidden" name="name" value={secret.name} />
            {loadedVersion()}
            <TypedValueFields
              type={draft?.type ?? secret.type}
              draft={draft}
              errors={errors}
              valueLabel="New value"
              typeFixed
            />
            <Field name="note" label="Note (optional)" multiline value={draft?.note} />
            <Field
              name="expiresAt"
              label={
                secret.expired ? "Expires at (a new expiry is required)" : "Expires at (optional)"
              }
              type="datetime-local"
              hint={EXPIRY_HINT}
              value={draft?.expiresAt}
              error={errors.expiresAt}
              required={secret.expired}
            />
            <button type="submit">
              {draft !== undefined ? "Save anyway as a new version" : "Save new version"}
            </button>
          </PostForm>
          {canSetExpiry ? (
            <>
              <h2>Expiry</h2>
              <PostForm action={`${base}/expiry`} csrfToken={context.csrfToken}>
                {loadedVersion()}
                <Field
                  name="newExpiry"
                  label="New expiry"
                  type="datetime-local"
                  hint="UTC, in the future. Keeps the current value and version."
                  error={errors.newExpiry}
                  required
                />
                <button type="submit">Set expiry</button>
              </PostForm>
              {secret.expiresAt !== null ? (
                <PostForm action={`${base}/expiry`} csrfToken={context.csrfToken}>
                  {loadedVersion()}
                  <input type="hidden" name="never" value="1" />
                  <button type="submit">Remove the expiry</button>
                </PostForm>
              ) : null}
            </>
          ) : null}
          <h2>Delete</h2>
          <PostForm
            action={`${base}/delete`}
            csrfToken={context.csrfToken}
            confirm={`Delete ${secret.name} and all its versions? This cannot be undone.`}
          >
            <button type="submit" class="danger">
              Delete this secret and every version
            </button>
          </PostForm>
        </>
      ) : null}
      <h2>Versions</h2>
      <ul class="versions">
        {versions.map((v) => (
          <li key={v.version}>
            Version {v.version} — <Time iso={v.createdAt} />
            {v.createdBy !== null ? ` by ${v.createdBy}` : ""}
            {v.version === secret.version ? (
              " (current)"
            ) : canWrite ? (
              <>
                {" "}
                <PostForm
                  action={`${base}/versions/${v.version}/restore`}
                  csrfToken={context.csrfToken}
                  class="inline"
                  confirm={`Make version ${v.version}'s value the current one (as version ${secret.version + 1})?`}
                >
                  {loadedVersion()}
                  <button type="submit" class="link">
                    Restore this version<span class="visually-hidden"> ({v.version})</span>
                  </button>
                </PostForm>
              </>
            ) : null}
          </li>
        ))}
      </ul>
    </Layout>
  );
}

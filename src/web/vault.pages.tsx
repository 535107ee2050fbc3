import type { VNode } from "preact";
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
            <Field name="value" label="Value" multiline error={errors.value} required />
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
            <Field name="username" label="Username" error={errors.username} required />
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

export interface SecretPageProps {
  context: PageContext;
  vault: string;
  secret: {
    name: string;
    version: number;
    updatedAt: string;
    expiresAt: string | null;
    expired: boolean;
  };
  versions: Array<{ version: number; createdAt: string; createdBy: string | null }>;
  /** Present only on the response to "Reveal": shown once, never cached. */
  revealed?: { value: string; note: string | null; version: number };
  canWrite: boolean;
  /**
   * Someone else changed the secret since this page was loaded: what to tell the user. The
   * page then shows the current version, and `draft` keeps what they typed.
   */
  conflict?: string;
  /** The value and note the user submitted, kept after a conflict so nothing typed is lost. */
  draft?: { value: string; note: string; expiresAt?: string };
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
        Version {secret.version}, updated <Time iso={secret.updatedAt} />
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
          <pre class="secret-value" id="secret-value">
            {revealed.value}
          </pre>
          <button type="button" data-copy="secret-value">
            Copy
          </button>
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
            <Field name="value" label="New value" multiline required value={draft?.value} />
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

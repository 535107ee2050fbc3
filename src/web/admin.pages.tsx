import type { VNode } from "preact";
import { Field, PostForm, Time } from "./components.js";
import { Layout } from "./layout.js";
import type { PageContext } from "./web-context.js";

/** The system roles, in the order the selects offer them. */
const ROLES = ["member", "auditor", "admin"] as const;

/** A user as the admin page shows them: the fields of the API's `presentUser`, no more. */
export interface AdminUserView {
  username: string;
  email: string;
  role: "admin" | "auditor" | "member";
  disabled: boolean;
  mfaEnabled: boolean;
  /** Has a passkey, which counts as a second factor too. */
  passkeyEnabled?: boolean;
}

/** The list filters as the person typed them (shown back in the filter form). */
export interface UserFilterValues {
  query?: string;
  role?: string;
  disabled?: string;
  limit?: string;
}

export interface AdminUsersPageProps {
  context: PageContext;
  users: AdminUserView[];
  filters: UserFilterValues;
  /** Errors of the filter form (a bad search or cursor). */
  filterErrors?: Record<string, string>;
  /** The next page's URL (carrying the signed cursor), or null on the last page. */
  nextHref: string | null;
  /** This list's URL: the action forms send it back so the admin returns here afterwards. */
  listHref: string;
  /** An action on a user failed (last administrator, sole vault owner, …). */
  error?: string;
  /** The create-user form: its errors and input (never the password). */
  createErrors?: Record<string, string>;
  createValues?: { username?: string; email?: string; role?: string };
}

function RoleOptions({ selected }: { selected: string | undefined }): VNode {
  return (
    <>
      {ROLES.map((role) => (
        <option key={role} value={role} selected={role === selected}>
          {role}
        </option>
      ))}
    </>
  );
}

/**
 * One user's row: role select with Save, disable/enable, end sessions and delete (the last
 * two confirmed first).
 */
function UserRow({
  user,
  csrfToken,
  listHref,
}: {
  user: AdminUserView;
  csrfToken: string;
  listHref: string;
}): VNode {
  const base = `/admin/users/${encodeURIComponent(user.username)}`;
  return (
    <tr>
      <td>{user.username}</td>
      <td>{user.email}</td>
      <td>
        <PostForm action={`${base}/role`} csrfToken={csrfToken} class="inline">
          <input type="hidden" name="back" value={listHref} />
          <select name="role" aria-label={`Role of ${user.username}`}>
            <RoleOptions selected={user.role} />
          </select>{" "}
          <button type="submit">Save</button>
        </PostForm>
      </td>
      <td>{user.disabled ? "Disabled" : "Active"}</td>
      <td>
        {user.mfaEnabled && user.passkeyEnabled
          ? "On (code, passkey)"
          : user.mfaEnabled
            ? "On"
            : user.passkeyEnabled
              ? "On (passkey)"
              : "Off"}
      </td>
      <td>
        <PostForm action={`${base}/disabled`} csrfToken={csrfToken} class="inline">
          <input type="hidden" name="back" value={listHref} />
          <input type="hidden" name="disabled" value={user.disabled ? "false" : "true"} />
          <button
            type="submit"
            aria-label={`${user.disabled ? "Enable" : "Disable"} ${user.username}`}
          >
            {user.disabled ? "Enable" : "Disable"}
          </button>
        </PostForm>{" "}
        <PostForm
          action={`${base}/sessions-end`}
          csrfToken={csrfToken}
          class="inline"
          confirm={`End every session of ${user.username}? They must sign in again; their API tokens keep working.`}
        >
          <input type="hidden" name="back" value={listHref} />
          <button type="submit" aria-label={`End sessions of ${user.username}`}>
            End sessions
          </button>
        </PostForm>{" "}
        <PostForm
          action={`${base}/delete`}
          csrfToken={csrfToken}
          class="inline"
          confirm={`Delete the user ${user.username}? Their sessions, API tokens and vault memberships go with them.`}
        >
          <input type="hidden" name="back" value={listHref} />
          <button type="submit" class="danger" aria-label={`Delete ${user.username}`}>
            Delete
          </button>
        </PostForm>
      </td>
    </tr>
  );
}

/** `/admin/users`: find, create and manage accounts (administrators only). */
export function AdminUsersPage({
  context,
  users,
  filters,
  filterErrors = {},
  nextHref,
  listHref,
  error,
  createErrors = {},
  createValues = {},
}: AdminUsersPageProps): VNode {
  return (
    <Layout title="Users" context={context}>
      <h1>Users</h1>
      {error !== undefined ? (
        <p class="flash error" role="alert">
          {error}
        </p>
      ) : null}
      <form method="get" action="/admin/users" aria-label="Find users">
        <Field
          name="query"
          label="Username or e-mail contains"
          value={filters.query ?? ""}
          error={filterErrors.query ?? filterErrors.cursor ?? filterErrors.limit}
        />
        <div class="field">
          <label for="filter-role">Role</label>
          <select id="filter-role" name="role">
            <option value="">Any role</option>
            <RoleOptions selected={filters.role} />
          </select>
        </div>
        <div class="field">
          <label for="filter-disabled">Status</label>
          <select id="filter-disabled" name="disabled">
            <option value="">Any status</option>
            <option value="false" selected={filters.disabled === "false"}>
              Active
            </option>
            <option value="true" selected={filters.disabled === "true"}>
              Disabled
            </option>
          </select>
        </div>
        {filters.limit !== undefined ? (
          <input type="hidden" name="limit" value={filters.limit} />
        ) : null}
        <button type="submit">Find</button> <a href="/admin/users">Clear</a>
      </form>
      {users.length === 0 ? (
        <p>No users match.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Username</th>
              <th scope="col">E-mail</th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              <th scope="col">2FA</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {users.map((user) => (
              <UserRow
                key={user.username}
                user={user}
                csrfToken={context.csrfToken}
                listHref={listHref}
              />
            ))}
          </tbody>
        </table>
      )}
      {nextHref !== null ? (
        <p>
          <a href={nextHref} rel="next">
            Next page
          </a>
        </p>
      ) : null}
      <section aria-labelledby="sessions-heading">
        <h2 id="sessions-heading">Everyone's sessions</h2>
        <p>
          After a suspected compromise, end every session but yours: everyone signs in again. API
          tokens keep working.
        </p>
        <PostForm
          action="/admin/sessions/end-all"
          csrfToken={context.csrfToken}
          confirm="Sign everyone else out? Every session but yours ends; API tokens keep working."
        >
          <input type="hidden" name="back" value={listHref} />
          <button type="submit" class="danger">
            Sign everyone else out
          </button>
        </PostForm>
      </section>
      <h2>New user</h2>
      {createErrors.form !== undefined ? (
        <p class="flash error" role="alert">
          {createErrors.form}
        </p>
      ) : null}
      <PostForm action="/admin/users" csrfToken={context.csrfToken}>
        <Field
          name="username"
          label="Username (4–25 letters, digits or _)"
          value={createValues.username ?? ""}
          error={createErrors.username}
          autocomplete="off"
          required
        />
        <Field
          name="email"
          label="E-mail"
          type="email"
          value={createValues.email ?? ""}
          error={createErrors.email}
          autocomplete="off"
          required
        />
        <div class="field">
          <label for="field-role">Role</label>
          <select id="field-role" name="role">
            <RoleOptions selected={createValues.role ?? "member"} />
          </select>
          {createErrors.role !== undefined ? (
            <p class="field-error" aria-live="polite">
              {createErrors.role}
            </p>
          ) : null}
        </div>
        <Field
          name="password"
          label="Password (at least 15 characters)"
          type="password"
          error={createErrors.password}
          autocomplete="new-password"
          required
        />
        <button type="submit">Create user</button>
      </PostForm>
    </Layout>
  );
}

/** An audit event as the page shows it: the fields of the API's `presentAuditEvent`. */
export interface AuditEventView {
  id: string;
  at: string;
  actor: string | null;
  action: string;
  target: string | null;
  address: string | null;
  outcome: string;
  details: Record<string, string | number | boolean | null> | null;
}

/** The audit filters as shown back in the form (times as `datetime-local` values, UTC). */
export interface AuditFilterValues {
  actor?: string;
  action?: string;
  since?: string;
  until?: string;
  limit?: string;
}

export interface AuditPageProps {
  context: PageContext;
  events: AuditEventView[];
  filters: AuditFilterValues;
  errors?: Record<string, string>;
  nextHref: string | null;
}

function TimeField({
  name,
  label,
  value,
  error,
}: {
  name: string;
  label: string;
  value: string | undefined;
  error: string | undefined;
}): VNode {
  const id = `field-${name}`;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <input
        id={id}
        name={name}
        type="datetime-local"
        step={1}
        value={value ?? ""}
        aria-invalid={error !== undefined ? "true" : undefined}
        aria-describedby={error !== undefined ? `${id}-error` : undefined}
      />
      {error !== undefined ? (
        <p class="field-error" id={`${id}-error`} aria-live="polite">
          {error}
        </p>
      ) : null}
    </div>
  );
}

/** `key: value` pairs of an event's details, as plain text. */
function detailsText(details: AuditEventView["details"]): string {
  if (details === null) return "";
  return Object.entries(details)
    .map(([key, value]) => `${key}: ${String(value)}`)
    .join("; ");
}

/** `/audit`: the audit log, newest first, for administrators and auditors. */
export function AuditPage({
  context,
  events,
  filters,
  errors = {},
  nextHref,
}: AuditPageProps): VNode {
  return (
    <Layout title="Audit log" context={context}>
      <h1>Audit log</h1>
      <form method="get" action="/audit" aria-label="Filter the audit log">
        <Field
          name="actor"
          label="Actor (username)"
          value={filters.actor ?? ""}
          error={errors.actor}
        />
        <Field
          name="action"
          label="Action (e.g. login.success)"
          value={filters.action ?? ""}
          error={errors.action}
        />
        <TimeField name="since" label="Since (UTC)" value={filters.since} error={errors.since} />
        <TimeField
          name="until"
          label="Until (UTC)"
          value={filters.until}
          error={errors.until ?? errors.cursor ?? errors.limit}
        />
        {filters.limit !== undefined ? (
          <input type="hidden" name="limit" value={filters.limit} />
        ) : null}
        <button type="submit">Filter</button> <a href="/audit">Clear</a>
      </form>
      {events.length === 0 ? (
        <p>No events match.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Time (UTC)</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Target</th>
              <th scope="col">Address</th>
              <th scope="col">Outcome</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {events.map((event) => (
              <tr key={event.id}>
                <td>
                  <Time iso={event.at} />
                </td>
                <td>{event.actor ?? "—"}</td>
                <td>{event.action}</td>
                <td>{event.target ?? "—"}</td>
                <td>{event.address ?? "—"}</td>
                <td>{event.outcome}</td>
                <td>{detailsText(event.details)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {nextHref !== null ? (
        <p>
          <a href={nextHref} rel="next">
            Older events
          </a>
        </p>
      ) : null}
    </Layout>
  );
}

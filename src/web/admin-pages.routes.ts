import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { h } from "preact";
import type { Actor } from "../accounts/admin-actions.service.js";
import type { AccountsContext } from "../accounts/context.js";
import { presentUser } from "../accounts/presenters.js";
import { createUser } from "../accounts/registration.service.js";
import {
  createUserBody,
  listUsersQuery,
  updateUserBody,
  usernameParams,
} from "../admin/admin.schema.js";
import type { UserChanges } from "../admin/index.js";
import {
  changeUser,
  deleteUser,
  endAllSessions,
  endUserSessions,
  listUsers,
} from "../admin/index.js";
import { presentAuditEvent } from "../audit/audit.routes.js";
import { auditQuerySchema, encodeAuditCursor } from "../audit/audit.schema.js";
import { listAuditPage } from "../audit/audit.service.js";
import type { Db } from "../db/schema.js";
import type { Principal } from "../http/authentication.js";
import { AppError, notFound, validationError } from "../lib/errors.js";
import { authorize } from "../policy/policy.js";
import type { AuditFilterValues, UserFilterValues } from "./admin.pages.js";
import { AdminUsersPage, AuditPage } from "./admin.pages.js";
import { fieldErrors } from "./components.js";
import { pageContext, sendPage } from "./pages.routes.js";
import { safeNextPath, setFlash } from "./web-context.js";

/**
 * What the admin pages need. Read on every request, not at registration, so an option may
 * be a getter resolved later (the tests build the context after the app).
 */
export interface AdminPageOptions {
  db: Db;
  ctx: AccountsContext;
}

const USERS_PATH = "/admin/users";
/** Account changes need a recent proof (page-gates.ts); `/reauth` comes back to the list. */
const STEP_UP = { stepUp: USERS_PATH } as const;

/** The signed-in browser user, or a redirect to sign in that comes back to `next`. */
function signedIn(request: FastifyRequest, reply: FastifyReply, next: string): Principal | null {
  if (request.principal?.kind === "session") return request.principal;
  void reply.redirect(`/login?next=${encodeURIComponent(next)}`, 303);
  return null;
}

/** The string fields of a form or query; anything else (arrays, files) is dropped. */
function stringFields(input: unknown): Record<string, string> {
  return Object.fromEntries(
    Object.entries((input ?? {}) as Record<string, unknown>).filter(
      ([, value]) => typeof value === "string",
    ),
  ) as Record<string, string>;
}

/** Only the named keys, and only when filled in (an empty form field means "no filter"). */
function pick(fields: Record<string, string>, keys: readonly string[]): Record<string, string> {
  return Object.fromEntries(keys.flatMap((key) => (fields[key] ? [[key, fields[key]]] : [])));
}

/** A URL with these query parameters. */
function withQuery(path: string, query: Record<string, string>): string {
  const search = new URLSearchParams(query).toString();
  return search === "" ? path : `${path}?${search}`;
}

/**
 * Where an action returns to: the user list the admin came from, if `back` is one of ours
 * (a same-site path to `/admin/users`, never another page or site); else the plain list.
 */
function backToList(back: string | undefined): string {
  const path = safeNextPath(back);
  return path === USERS_PATH || path.startsWith(`${USERS_PATH}?`) ? path : USERS_PATH;
}

/** "1 session", "2 sessions". */
function sessionCount(count: number): string {
  return count === 1 ? "1 session" : `${count} sessions`;
}

/** How a refused change names its field to a person. */
const FIELD_NAMES: Record<string, string> = { role: "The role", disabled: "The status" };

const USER_FILTER_KEYS = ["query", "role", "disabled", "limit"] as const;
const AUDIT_FILTER_KEYS = ["actor", "action", "since", "until", "limit"] as const;

/** A `datetime-local` value (no offset) is taken as UTC; anything else goes to the schema as is. */
const LOCAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/;
function asUtc(text: string): string {
  if (!LOCAL_TIME.test(text)) return text;
  return text.length === 16 ? `${text}:00Z` : `${text}Z`;
}

/** An ISO time as a `datetime-local` value (UTC, to the second). */
function asLocalInput(iso: string): string {
  return iso.slice(0, 19);
}

/** User administration and the audit log, through the same services and policy as the API. */
export async function adminPages(app: FastifyInstance, options: AdminPageOptions): Promise<void> {
  const flash = (reply: FastifyReply, text: string): void =>
    setFlash(
      reply,
      options.ctx.config.secretKey,
      { kind: "success", text },
      options.ctx.config.publicUrlIsHttps,
    );

  /** Renders the user list for `query` (its filters and page), with whatever went wrong. */
  const renderUsers = async (
    request: FastifyRequest,
    reply: FastifyReply,
    query: Record<string, string>,
    status = 200,
    extra: {
      error?: string;
      createErrors?: Record<string, string>;
      createValues?: { username?: string; email?: string; role?: string };
    } = {},
  ): Promise<FastifyReply> => {
    const filters: UserFilterValues = pick(query, USER_FILTER_KEYS);
    const listQuery = pick(query, [...USER_FILTER_KEYS, "cursor"]);
    const listHref = withQuery(USERS_PATH, listQuery);
    const parsed = listUsersQuery.safeParse(listQuery);
    let users: ReturnType<typeof presentUser>[] = [];
    let nextHref: string | null = null;
    let filterErrors: Record<string, string> = {};
    if (!parsed.success) {
      filterErrors = fieldErrors(parsed.error.issues);
      status = status === 200 ? 400 : status;
    } else {
      try {
        const page = await listUsers(options.db, options.ctx.config.secretKey, parsed.data);
        users = page.users.map(presentUser);
        nextHref =
          page.nextCursor === null
            ? null
            : withQuery(USERS_PATH, { ...filters, cursor: page.nextCursor });
      } catch (error) {
        // A cursor from another search, or altered: say so next to the filters.
        if (!(error instanceof AppError) || error.status !== 400) throw error;
        filterErrors = { cursor: "This page link no longer matches the search. Search again." };
        status = status === 200 ? 400 : status;
      }
    }
    return sendPage(
      reply,
      h(AdminUsersPage, {
        context: pageContext(request, reply, options.ctx),
        users,
        filters,
        filterErrors,
        nextHref,
        listHref,
        ...extra,
      }),
      status,
    );
  };

  app.get(USERS_PATH, async (request, reply) => {
    const actor = signedIn(request, reply, request.url);
    if (actor === null) return reply;
    authorize(actor, "user.admin");
    return renderUsers(request, reply, stringFields(request.query));
  });

  app.post(USERS_PATH, { config: STEP_UP }, async (request, reply) => {
    const actor = signedIn(request, reply, USERS_PATH);
    if (actor === null) return reply;
    authorize(actor, "user.admin");
    const values = stringFields(request.body);
    // Kept for the form on failure; the password never is.
    const createValues = {
      username: values.username ?? "",
      email: values.email ?? "",
      role: values.role ?? "member",
    };
    const parsed = createUserBody.safeParse({
      username: values.username,
      email: values.email,
      password: values.password,
      ...(values.role ? { role: values.role } : {}),
    });
    if (!parsed.success)
      return renderUsers(request, reply, {}, 400, {
        createErrors: fieldErrors(parsed.error.issues),
        createValues,
      });
    try {
      const user = await createUser(options.db, options.ctx, parsed.data, {
        id: actor.userId,
        name: actor.username,
        address: request.ip,
      });
      flash(reply, `User ${user.username} created as ${user.role}.`);
      return reply.redirect(USERS_PATH, 303);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      const createErrors: Record<string, string> = {};
      // The password policy may give several reasons for one field: show them all.
      for (const { path, message } of error.errors ?? []) {
        const name = path.replace(/^body\./, "");
        createErrors[name] =
          createErrors[name] === undefined ? message : `${createErrors[name]} ${message}`;
      }
      if (error.errors === undefined) createErrors.form = error.detail ?? error.title;
      return renderUsers(request, reply, {}, error.status, { createErrors, createValues });
    }
  });

  /**
   * One action on one user: authorize, validate, act, then flash and go back to the list —
   * or show the list again with why it was refused (last administrator, sole vault owner, …).
   */
  const userAction = (
    verb: "role" | "disabled" | "delete" | "sessions-end",
    /** Performs the action; returns the flash message that reports it. */
    act: (username: string, values: Record<string, string>, actor: Actor) => Promise<string>,
  ): void => {
    app.post(`${USERS_PATH}/:username/${verb}`, { config: STEP_UP }, async (request, reply) => {
      const actor = signedIn(request, reply, USERS_PATH);
      if (actor === null) return reply;
      authorize(actor, "user.admin");
      const values = stringFields(request.body);
      const back = backToList(values.back);
      try {
        const params = usernameParams.safeParse(request.params);
        if (!params.success) throw notFound("There is no such user.");
        const message = await act(params.data.username, values, {
          id: actor.userId,
          name: actor.username,
          address: request.ip,
        });
        flash(reply, message);
        return reply.redirect(back, 303);
      } catch (error) {
        if (!(error instanceof AppError) || error.status >= 500) throw error;
        const text = error.detail ?? error.title;
        const listQuery = Object.fromEntries(new URL(back, "http://localhost").searchParams);
        return renderUsers(request, reply, listQuery, error.status, { error: text });
      }
    });
  };

  /** Validates a change with the API's schema (a 400 naming the field when it is wrong). */
  const changes = (input: Record<string, unknown>): UserChanges => {
    const parsed = updateUserBody.safeParse(input);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    const field = String(issue?.path[0] ?? "");
    throw validationError(
      [{ path: `body.${field}`, message: issue?.message ?? "is invalid" }],
      `${FIELD_NAMES[field] ?? "The change"} ${issue?.message ?? "is invalid"}.`,
    );
  };

  userAction("role", async (username, values, actor) => {
    const user = await changeUser(
      options.db,
      options.ctx.now(),
      username,
      changes({ role: values.role }),
      actor,
    );
    return `${user.username} is now ${user.role}.`;
  });

  userAction("disabled", async (username, values, actor) => {
    const disabled =
      values.disabled === "true" ? true : values.disabled === "false" ? false : values.disabled;
    const user = await changeUser(
      options.db,
      options.ctx.now(),
      username,
      changes({ disabled }),
      actor,
    );
    return user.disabled_at !== null
      ? `${user.username} is disabled: their sessions and API tokens have ended.`
      : `${user.username} is enabled again.`;
  });

  userAction("delete", async (username, _values, actor) => {
    await deleteUser(options.db, options.ctx.now(), username, actor);
    return `User ${username} deleted.`;
  });

  userAction("sessions-end", async (username, _values, actor) => {
    const ended = await endUserSessions(options.db, options.ctx.now(), username, actor);
    return `Ended ${sessionCount(ended)} of ${username}.`;
  });

  // Everyone else's sessions (ASVS 7.4.5); the administrator's own stays, so they see the
  // result. API tokens are not sessions and keep working.
  app.post("/admin/sessions/end-all", { config: STEP_UP }, async (request, reply) => {
    const actor = signedIn(request, reply, USERS_PATH);
    if (actor === null) return reply;
    authorize(actor, "user.admin");
    const ended = await endAllSessions(
      options.db,
      options.ctx.now(),
      { id: actor.userId, name: actor.username, address: request.ip },
      actor.sessionId,
    );
    flash(reply, `Ended ${sessionCount(ended)}; yours stays signed in.`);
    return reply.redirect(backToList(stringFields(request.body).back), 303);
  });

  app.get("/audit", async (request, reply) => {
    const actor = signedIn(request, reply, request.url);
    if (actor === null) return reply;
    authorize(actor, "audit.read");
    const query = pick(stringFields(request.query), [...AUDIT_FILTER_KEYS, "cursor"]);
    const parsed = auditQuerySchema.safeParse({
      ...query,
      ...(query.since ? { since: asUtc(query.since) } : {}),
      ...(query.until ? { until: asUtc(query.until) } : {}),
    });
    const context = pageContext(request, reply, options.ctx);
    if (!parsed.success) {
      const filters: AuditFilterValues = pick(query, AUDIT_FILTER_KEYS);
      const errors = fieldErrors(parsed.error.issues);
      return sendPage(
        reply,
        h(AuditPage, { context, events: [], filters, errors, nextHref: null }),
        400,
      );
    }
    const filter = parsed.data;
    const page = await listAuditPage(options.db, {
      actorKey: filter.actor?.toLowerCase(),
      action: filter.action,
      since: filter.since,
      until: filter.until,
      beforeSeq: filter.cursor,
      limit: filter.limit,
    });
    // The next page repeats the filters in their normalised form (UTC, with an offset).
    const linkQuery = {
      ...pick(query, ["actor", "action", "limit"]),
      ...(filter.since ? { since: filter.since } : {}),
      ...(filter.until ? { until: filter.until } : {}),
    };
    const filters: AuditFilterValues = {
      ...pick(query, ["actor", "action", "limit"]),
      ...(filter.since ? { since: asLocalInput(filter.since) } : {}),
      ...(filter.until ? { until: asLocalInput(filter.until) } : {}),
    };
    return sendPage(
      reply,
      h(AuditPage, {
        context,
        events: page.events.map(presentAuditEvent),
        filters,
        nextHref:
          page.nextBeforeSeq === null
            ? null
            : withQuery("/audit", { ...linkQuery, cursor: encodeAuditCursor(page.nextBeforeSeq) }),
      }),
    );
  });
}

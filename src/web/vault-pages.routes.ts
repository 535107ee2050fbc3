import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { h } from "preact";
import type { AccountsContext } from "../accounts/context.js";
import type { Db } from "../db/schema.js";
import type { Principal } from "../http/authentication.js";
import { AppError, notFound } from "../lib/errors.js";
import { authorize, decide } from "../policy/policy.js";
import type { VaultAccess } from "../vaults/access.js";
import { authorizeVault } from "../vaults/access.js";
import type { VersionPrecondition } from "../vaults/preconditions.js";
import { PreconditionFailedError } from "../vaults/preconditions.js";
import type { SecretType } from "../vaults/secret-types.js";
import { SECRET_TYPES } from "../vaults/secret-types.js";
import {
  deleteSecret,
  findSecretOrThrow,
  isExpired,
  listSecrets,
  listSecretVersions,
  putSecret,
  restoreVersion,
  revealSecret,
  setExpiry,
} from "../vaults/secrets.service.js";
import { findEnabledUserByUsernameKey, listMembers } from "../vaults/vaults.repository.js";
import {
  createVaultBody,
  EXPIRING_WITHIN_DAYS_MAX,
  patchSecretBody,
  putMemberBody,
  putSecretBody,
  secretNameSchema,
  vaultSlugSchema,
} from "../vaults/vaults.schema.js";
import type { Acting } from "../vaults/vaults.service.js";
import { createVault, listVaults, putMember, removeMember } from "../vaults/vaults.service.js";
import { fieldErrors } from "./components.js";
import { pageContext, sendPage } from "./pages.routes.js";
import type { RevealedValue, VaultSummary } from "./vault.pages.js";
import { SecretPage, VaultPage, VaultsPage } from "./vault.pages.js";
import { setFlash } from "./web-context.js";

export interface VaultPageOptions {
  db: Db;
  ctx: AccountsContext;
}

type Params = Record<string, string>;

/** The signed-in browser user, or a redirect to sign in (coming back here afterwards). */
function signedIn(request: FastifyRequest, reply: FastifyReply): Principal | null {
  if (request.principal?.kind === "session") return request.principal;
  void reply.redirect(`/login?next=${encodeURIComponent(request.url)}`, 303);
  return null;
}

function slugParam(params: unknown): string {
  const parsed = vaultSlugSchema.safeParse((params as Params).vault);
  if (!parsed.success) throw notFound();
  return parsed.data;
}

function nameParam(params: unknown): string {
  const parsed = secretNameSchema.safeParse((params as Params).name);
  if (!parsed.success) throw notFound("There is no such secret.");
  return parsed.data;
}

/** A form's version number field (`ifVersion`, a route's `n`): null when absent or malformed. */
function versionField(text: string | undefined): number | null {
  return text !== undefined && /^[0-9]{1,10}$/.test(text) ? Number(text) : null;
}

/**
 * A time from a `datetime-local` field (`2030-01-31T12:00`, seconds optional), which has no
 * zone, read as UTC like every time on these pages; anything else is passed on to be
 * validated as RFC 3339.
 */
function utcFromForm(text: string): string {
  const trimmed = text.trim();
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(trimmed)) return `${trimmed}:00Z`;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?$/.test(trimmed)) return `${trimmed}Z`;
  return trimmed;
}

/** Form fields of typed values that may be shown again after a refusal (no secrets). */
const KEPT_TYPED_FIELDS = [
  "cred_username",
  "cred_url",
  "card_holder",
  "card_expMonth",
  "card_expYear",
];

/** The value a write form describes: the string, or the credential's or card's fields. */
function typedValueFromForm(
  type: SecretType | undefined,
  values: Record<string, string>,
): string | Record<string, unknown> {
  const optional = (key: string, field: string) => (values[field] ? { [key]: values[field] } : {});
  if (type === "credential")
    return {
      username: values.cred_username ?? "",
      password: values.cred_password ?? "",
      ...optional("url", "cred_url"),
    };
  if (type === "card")
    return {
      holder: values.card_holder ?? "",
      number: values.card_number ?? "",
      expMonth: Number(values.card_expMonth || Number.NaN),
      expYear: Number(values.card_expYear || Number.NaN),
      ...optional("cvc", "card_cvc"),
    };
  return values.value ?? "";
}

/** A write's field errors, keyed by the form field they belong to. */
function formErrors(
  type: SecretType | undefined,
  errors: ReadonlyArray<{ path: string; message: string }>,
): Record<string, string> {
  const prefix = type === "credential" ? "cred_" : type === "card" ? "card_" : "";
  const keyed: Record<string, string> = {};
  for (const { path, message } of errors) {
    if (path === "body.expiresAt") keyed.expiresAt ??= `Expiry ${message}.`;
    else if (path.startsWith("body.value.")) keyed[prefix + path.slice(11)] ??= message;
    else keyed[path.replace(/^body\./, "")] ??= message;
  }
  return keyed;
}

/** A form's `ifVersion`: 0 means "create only", N "only if still at version N". */
function preconditionOfForm(ifVersion: number): VersionPrecondition {
  return ifVersion === 0 ? { kind: "absent" } : { kind: "versions", versions: [ifVersion] };
}

/** What happened, for a form that was loaded at `loaded` and found the secret at `now`. */
function secret409(loaded: number, now: number | null): string {
  return now === null
    ? "this secret was deleted after you opened this page."
    : `someone saved version ${now} after you opened this page at version ${loaded}.`;
}

function form(request: FastifyRequest): Record<string, string> {
  const body = (request.body ?? {}) as Record<string, unknown>;
  return Object.fromEntries(
    Object.entries(body).filter(([, v]) => typeof v === "string"),
  ) as Record<string, string>;
}

/** The vault pages: every action goes through the same services and policy as the API. */
export async function vaultPages(
  app: FastifyInstance,
  { db, ctx }: VaultPageOptions,
): Promise<void> {
  const keys = { keyring: ctx.config.masterKeys, secretKey: ctx.config.secretKey };
  const acting = (actor: Principal, request: FastifyRequest): Acting => ({
    actor,
    address: request.ip,
    now: ctx.now(),
  });
  const flash = (reply: FastifyReply, kind: "success" | "error", text: string): void =>
    setFlash(reply, ctx.config.secretKey, { kind, text }, ctx.config.publicUrlIsHttps);

  const renderVaults = async (
    request: FastifyRequest,
    reply: FastifyReply,
    actor: Principal,
    status = 200,
    errors: Record<string, string> = {},
    values: Record<string, string> = {},
  ) => {
    const vaults: VaultSummary[] = (await listVaults(db, actor)).map((v) => ({
      slug: v.slug,
      description: v.description,
      role: v.role,
    }));
    return sendPage(
      reply,
      h(VaultsPage, { context: pageContext(request, reply, ctx), vaults, errors, values }),
      status,
    );
  };

  app.get("/", async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    authorize(actor, "vault.list");
    return renderVaults(request, reply, actor);
  });

  app.post("/vaults", async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const values = form(request);
    const parsed = createVaultBody.safeParse({
      slug: values.slug,
      ...(values.description ? { description: values.description } : {}),
    });
    if (!parsed.success)
      return renderVaults(request, reply, actor, 400, fieldErrors(parsed.error.issues), values);
    authorize(actor, "vault.create");
    try {
      const vault = await createVault(db, acting(actor, request), parsed.data);
      flash(reply, "success", `Vault ${vault.slug} created.`);
      return reply.redirect(`/vaults/${encodeURIComponent(vault.slug)}`, 303);
    } catch (error) {
      if (error instanceof AppError && error.status === 409)
        return renderVaults(
          request,
          reply,
          actor,
          409,
          { slug: error.detail ?? error.title },
          values,
        );
      throw error;
    }
  });

  const renderVault = async (
    request: FastifyRequest,
    reply: FastifyReply,
    actor: Principal,
    access: VaultAccess,
    status = 200,
    errors: Record<string, string> = {},
    values: Record<string, string> = {},
  ) => {
    const { cursor, q, expiring } = request.query as Params;
    const search = typeof q === "string" ? q.slice(0, 128) : "";
    // "Expiring within N days": a whole number of days up to the API's limit, else no filter.
    const days = versionField(expiring);
    const expiringWithinDays = days !== null && days <= EXPIRING_WITHIN_DAYS_MAX ? days : null;
    const now = ctx.now();
    const page = await listSecrets(
      db,
      keys,
      access,
      50,
      typeof cursor === "string" ? cursor : undefined,
      search,
      expiringWithinDays === null ? null : { withinDays: expiringWithinDays, now },
    );
    const isOwner = decide(actor, "member.manage", {
      vaultId: access.vault.id,
      role: access.role,
    }).allowed;
    const members = isOwner
      ? (await listMembers(db, access.vault.id)).map((m) => ({
          username: m.username,
          role: m.role,
        }))
      : null;
    return sendPage(
      reply,
      h(VaultPage, {
        context: pageContext(request, reply, ctx),
        vault: {
          slug: access.vault.slug,
          description: access.vault.description,
          role: access.role,
        },
        secrets: page.secrets.map((s) => ({
          name: s.name,
          version: s.current_version,
          updatedAt: s.updated_at,
          expiresAt: s.expires_at,
          expired: isExpired(s.expires_at, now),
        })),
        nextCursor: page.nextCursor,
        search,
        expiringWithinDays,
        members,
        canWrite: decide(actor, "secret.write", { vaultId: access.vault.id, role: access.role })
          .allowed,
        errors,
        values,
      }),
      status,
    );
  };

  app.get("/vaults/:vault", async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const access = await authorizeVault(db, actor, slugParam(request.params), "secret.list");
    return renderVault(request, reply, actor, access);
  });

  app.post("/vaults/:vault/secrets", async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const access = await authorizeVault(db, actor, slugParam(request.params), "secret.write");
    const values = form(request);
    const ifVersion = versionField(values.ifVersion);
    const name = secretNameSchema.safeParse(values.name);
    const type = (SECRET_TYPES as readonly string[]).includes(values.type ?? "")
      ? (values.type as SecretType)
      : undefined;
    const body = putSecretBody.safeParse({
      ...(type !== undefined ? { type } : {}),
      value: typedValueFromForm(type, values),
      ...(values.note ? { note: values.note } : {}),
      ...(values.expiresAt ? { expiresAt: utcFromForm(values.expiresAt) } : {}),
    });
    // What is typed comes back after a refusal, except passwords, card numbers and CVCs.
    const kept = Object.fromEntries(
      ["value", "note", "expiresAt", "type", ...KEPT_TYPED_FIELDS].map((key) => [
        key,
        values[key] ?? "",
      ]),
    );
    // Errors go back to the form they came from: a secret's page sends its version.
    const refuse = (status: number, errors: Record<string, string>) =>
      ifVersion !== null && ifVersion > 0 && name.success
        ? renderSecret(request, reply, actor, access, name.data, { status, errors, draft: kept })
        : renderVault(request, reply, actor, access, status, errors, {
            ...kept,
            name: values.name ?? "",
            value: "",
          });
    if (!name.success || !body.success) {
      return refuse(400, {
        ...(name.success ? {} : { name: name.error.issues[0]?.message ?? "is invalid" }),
        ...(body.success ? {} : fieldErrors(body.error.issues)),
      });
    }
    let written: Awaited<ReturnType<typeof putSecret>>;
    try {
      written = await putSecret(db, keys, acting(actor, request), access, {
        name: name.data,
        ...body.data,
        precondition: ifVersion === null ? null : preconditionOfForm(ifVersion),
      });
    } catch (error) {
      // A past expiry or a value that breaks its type's rules (400), or a new value for an
      // expired secret without a new expiry (409).
      if (error instanceof AppError && error.code === "validation-failed")
        return refuse(400, formErrors(type, error.errors ?? []));
      if (error instanceof AppError && error.code === "conflict")
        return refuse(409, { expiresAt: error.detail ?? error.title });
      if (!(error instanceof PreconditionFailedError) || ifVersion === null) throw error;
      if (ifVersion === 0 || error.currentVersion === null)
        return renderVault(
          request,
          reply,
          actor,
          access,
          409,
          {
            name:
              error.currentVersion === null
                ? "This secret was deleted meanwhile; add it again here."
                : "A secret with this name already exists: open it to save a new version.",
          },
          { name: name.data, note: values.note ?? "", expiresAt: values.expiresAt ?? "" },
        );
      // Someone saved a version since this form was loaded: show theirs, keep ours, ask.
      return renderSecret(request, reply, actor, access, name.data, {
        status: 409,
        conflict: `Not saved: ${secret409(ifVersion, error.currentVersion)} Check it (reveal it if you need to), then save yours again if it should replace it.`,
        draft: kept,
      });
    }
    const { secret, created } = written;
    flash(
      reply,
      "success",
      created
        ? `Secret ${secret.name} saved.`
        : `Secret ${secret.name} is now at version ${secret.current_version}.`,
    );
    return reply.redirect(
      `/vaults/${encodeURIComponent(access.vault.slug)}/secrets/${encodeURIComponent(secret.name)}`,
      303,
    );
  });

  // Member changes and reveals need a recent proof of the password (page-gates.ts).
  const backToVault = { config: { stepUp: "/vaults/:vault" } };
  app.post("/vaults/:vault/members/:username/remove", backToVault, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const access = await authorizeVault(db, actor, slugParam(request.params), "member.manage");
    const username = (request.params as Params).username ?? "";
    const user = /^[A-Za-z0-9_]{4,25}$/.test(username)
      ? await findEnabledUserByUsernameKey(db, username.toLowerCase())
      : null;
    try {
      if (user === null) throw notFound("That user is not a member of this vault.");
      await removeMember(db, acting(actor, request), access, user.id, user.username);
    } catch (error) {
      if (error instanceof AppError && error.status < 500)
        return renderVault(request, reply, actor, access, error.status, {
          username: error.detail ?? error.title,
        });
      throw error;
    }
    flash(reply, "success", `${user.username} no longer has access to ${access.vault.slug}.`);
    return reply.redirect(`/vaults/${encodeURIComponent(access.vault.slug)}`, 303);
  });

  app.post("/vaults/:vault/members", backToVault, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const access = await authorizeVault(db, actor, slugParam(request.params), "member.manage");
    const values = form(request);
    const role = putMemberBody.safeParse({ role: values.role });
    if (!role.success || !/^[A-Za-z0-9_]{4,25}$/.test(values.username ?? "")) {
      return renderVault(request, reply, actor, access, 400, {
        username: "Enter a username and a role.",
      });
    }
    try {
      await putMember(db, acting(actor, request), access, values.username ?? "", role.data.role);
    } catch (error) {
      if (error instanceof AppError && error.status < 500)
        return renderVault(request, reply, actor, access, error.status, {
          username: error.detail ?? error.title,
        });
      throw error;
    }
    flash(reply, "success", `${values.username} is now ${role.data.role}.`);
    return reply.redirect(`/vaults/${encodeURIComponent(access.vault.slug)}`, 303);
  });

  const renderSecret = async (
    request: FastifyRequest,
    reply: FastifyReply,
    actor: Principal,
    access: VaultAccess,
    name: string,
    extra: {
      revealed?: RevealedValue;
      status?: number;
      conflict?: string;
      draft?: Record<string, string>;
      errors?: Record<string, string>;
    } = {},
  ) => {
    const { revealed, status = 200, conflict, draft, errors } = extra;
    const secret = await findSecretOrThrow(db, access, name);
    const versions = (await listSecretVersions(db, access, name)).map((v) => ({
      version: v.version,
      createdAt: v.created_at,
      createdBy: v.created_by,
    }));
    return sendPage(
      reply,
      h(SecretPage, {
        context: pageContext(request, reply, ctx),
        vault: access.vault.slug,
        secret: {
          name: secret.name,
          version: secret.current_version,
          updatedAt: secret.updated_at,
          type: secret.type,
          expiresAt: secret.expires_at,
          expired: isExpired(secret.expires_at, ctx.now()),
        },
        versions,
        ...(revealed ? { revealed } : {}),
        ...(conflict !== undefined ? { conflict } : {}),
        ...(draft !== undefined ? { draft } : {}),
        ...(errors !== undefined ? { errors } : {}),
        canSetExpiry: decide(actor, "secret.expiry", {
          vaultId: access.vault.id,
          role: access.role,
        }).allowed,
        canWrite: decide(actor, "secret.write", { vaultId: access.vault.id, role: access.role })
          .allowed,
      }),
      status,
    );
  };

  app.get("/vaults/:vault/secrets/:name", async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const access = await authorizeVault(db, actor, slugParam(request.params), "secret.list");
    return renderSecret(request, reply, actor, access, nameParam(request.params));
  });

  // Reveal is a POST (never a link a crawler or prefetch could follow) and answered
  // `no-store` (the global default), so the value is shown once and not kept by the browser.
  const backToSecret = { config: { stepUp: "/vaults/:vault/secrets/:name" } };
  app.post("/vaults/:vault/secrets/:name/reveal", backToSecret, async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const access = await authorizeVault(db, actor, slugParam(request.params), "secret.reveal");
    const name = nameParam(request.params);
    const revealed = await revealSecret(db, keys, acting(actor, request), access, name);
    // Outside a transaction, revealSecret's audit event is committed once it returns.
    ctx.countAuditEvent("secret.reveal");
    return renderSecret(request, reply, actor, access, name, {
      revealed: {
        type: revealed.type,
        value: revealed.value,
        note: revealed.note,
        version: revealed.version,
      },
    });
  });

  // Owners set or remove a secret's expiry (extending an expired one) without a new version.
  app.post("/vaults/:vault/secrets/:name/expiry", async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const access = await authorizeVault(db, actor, slugParam(request.params), "secret.expiry");
    const name = nameParam(request.params);
    const values = form(request);
    const parsed = patchSecretBody.safeParse({
      expiresAt: values.never === "1" ? null : utcFromForm(values.newExpiry ?? ""),
    });
    const refuse = (message: string) =>
      renderSecret(request, reply, actor, access, name, {
        status: 400,
        errors: { newExpiry: message },
      });
    if (!parsed.success) return refuse("Enter a date and time (UTC).");
    // The form carries the version the page showed: an expiry is never set on a value its
    // owner has not seen (extending an expired secret makes its value revealable again).
    const ifVersion = versionField(values.ifVersion);
    let secret: Awaited<ReturnType<typeof setExpiry>>;
    try {
      secret = await setExpiry(
        db,
        acting(actor, request),
        access,
        name,
        parsed.data.expiresAt,
        ifVersion === null ? null : preconditionOfForm(ifVersion),
      );
    } catch (error) {
      if (error instanceof AppError && error.errors?.[0]?.path === "body.expiresAt")
        return refuse(`The new expiry ${error.errors[0].message}.`);
      if (error instanceof PreconditionFailedError && ifVersion !== null)
        return renderSecret(request, reply, actor, access, name, {
          status: 409,
          conflict: `Expiry not changed: ${secret409(ifVersion, error.currentVersion)} Check the value, then set the expiry again.`,
        });
      throw error;
    }
    flash(
      reply,
      "success",
      secret.expires_at === null
        ? `${name} no longer expires.`
        : `${name} now expires at ${secret.expires_at.slice(0, 16).replace("T", " ")} UTC.`,
    );
    return reply.redirect(
      `/vaults/${encodeURIComponent(access.vault.slug)}/secrets/${encodeURIComponent(name)}`,
      303,
    );
  });

  // Rollback: a new version with an old version's value. The form carries the version the
  // page showed, so a restore never replaces a version its user has not seen.
  app.post("/vaults/:vault/secrets/:name/versions/:n/restore", async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const access = await authorizeVault(db, actor, slugParam(request.params), "secret.write");
    const name = nameParam(request.params);
    const n = versionField((request.params as Params).n);
    if (n === null || n === 0) throw notFound("There is no such version.");
    const ifVersion = versionField(form(request).ifVersion);
    try {
      const { secret } = await restoreVersion(
        db,
        keys,
        acting(actor, request),
        access,
        name,
        n,
        ifVersion === null ? null : preconditionOfForm(ifVersion),
      );
      flash(reply, "success", `Version ${n} restored as version ${secret.current_version}.`);
    } catch (error) {
      if (!(error instanceof PreconditionFailedError) || ifVersion === null) throw error;
      return renderSecret(request, reply, actor, access, name, {
        status: 409,
        conflict: `Not restored: ${secret409(ifVersion, error.currentVersion)} Check the versions below, then restore again if you still want version ${n}.`,
      });
    }
    return reply.redirect(
      `/vaults/${encodeURIComponent(access.vault.slug)}/secrets/${encodeURIComponent(name)}`,
      303,
    );
  });

  app.post("/vaults/:vault/secrets/:name/delete", async (request, reply) => {
    const actor = signedIn(request, reply);
    if (actor === null) return reply;
    const access = await authorizeVault(db, actor, slugParam(request.params), "secret.delete");
    const name = nameParam(request.params);
    await deleteSecret(db, acting(actor, request), access, name);
    flash(reply, "success", `Secret ${name} deleted and shredded.`);
    return reply.redirect(`/vaults/${encodeURIComponent(access.vault.slug)}`, 303);
  });
}

/**
 * One-time share links (SPEC §4 `/shares`). The browser encrypts a secret's value under a
 * key that stays in the link's fragment; the server keeps only that ciphertext, hands it to
 * whoever holds the link while views remain, and deletes it with the last view, on expiry
 * or on revocation. Every creation, view, burn, expiry and revocation is in the audit log
 * (never the ciphertext), written in the same transaction as the change it records: when
 * the event cannot be written, nothing is stored and no ciphertext is handed out.
 */
import { createHash } from "node:crypto";
import { recordAuditEvent } from "../audit/audit.service.js";
import { dialectOf } from "../db/dialect.js";
import type { Db } from "../db/schema.js";
import { withTransactionRetry } from "../db/transaction-retry.js";
import type { Principal } from "../http/authentication.js";
import { AppError, conflict, notFound } from "../lib/errors.js";
import { randomKeyBytes } from "../lib/random.js";
import { decide } from "../policy/policy.js";
import type { VaultAccess } from "../vaults/access.js";
import { authorizeVault } from "../vaults/access.js";
import { findSecretOrThrow } from "../vaults/secrets.service.js";
import type { Acting } from "../vaults/vaults.service.js";
import type { ShareSummary } from "./shares.repository.js";
import {
  countSharesBy,
  deleteExpiredShares,
  deleteShare,
  findShareSummary,
  findVaultSlug,
  insertShare,
  listShares,
  takeShareView,
} from "./shares.repository.js";
import { SHARE_ID_BYTES, SHARES_PER_USER_MAX } from "./shares.schema.js";

/** Expired links deleted per purge (each purge runs inside a user's request). */
const PURGE_BATCH = 100;

/**
 * What the database keeps of a link's id: its SHA-256, hex (`shares.id`). The id lets its
 * holder spend a view, so, like a token, it is stored only hashed: a reader of the database
 * can neither open nor burn a link. The hash is also the link's handle in listings, which
 * can revoke it but not open it.
 */
export function shareHandle(linkId: string): string {
  return createHash("sha256").update(linkId, "utf8").digest("hex");
}

/** Whether `value` is a handle (see {@link shareHandle}) rather than a link id. */
export function isShareHandle(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value);
}

/**
 * How a link is named in the audit log: the first 16 hex digits of its handle (the SHA-256
 * of its id). The id itself lets anyone burn a view, so auditors see only this reference.
 */
export function shareReference(handle: string): string {
  return handle.slice(0, 16);
}

/** Who opens a link: anyone holding it, signed in or not. */
export interface Viewer {
  principal: Principal | null;
  address: string;
  now: Date;
}

function audit(
  trx: Db,
  who: { principal: Principal | null; address: string; now: Date },
  action: string,
  target: string,
  details: Record<string, string | number>,
): Promise<void> {
  return recordAuditEvent(
    trx,
    {
      actorId: who.principal?.userId ?? null,
      actorName: who.principal?.username ?? null,
      action,
      target,
      address: who.address,
      outcome: "success",
      details,
    },
    who.now,
  );
}

/** Deletes expired links (audited as `share.expire`); true when any was deleted. */
async function purgeExpired(trx: Db, who: Viewer): Promise<boolean> {
  const expired = await deleteExpiredShares(trx, who.now.toISOString(), PURGE_BATCH);
  for (const row of expired) {
    await audit(trx, who, "share.expire", `${row.vault_slug}/${row.secret_name}`, {
      link: shareReference(row.id),
    });
  }
  return expired.length > 0;
}

/** A new link: its id (for the URL; nowhere else but in this answer) and its summary. */
export interface CreatedShare {
  linkId: string;
  share: ShareSummary;
}

/**
 * Stores `ciphertext` as a new link to secret `secretName` (which must exist: 404) of a vault
 * the caller may create links in (`access` from authorizeVault with `share.create`). A caller
 * with {@link SHARES_PER_USER_MAX} live links gets 409.
 * @throws whatever the database throws (the audit log unwritable, say): nothing is stored.
 */
export async function createShare(
  db: Db,
  acting: Acting,
  access: VaultAccess,
  input: { secretName: string; ciphertext: Buffer; maxViews: number; expiresInMinutes: number },
): Promise<CreatedShare> {
  await findSecretOrThrow(db, access, input.secretName);
  const now = acting.now.toISOString();
  const linkId = randomKeyBytes(SHARE_ID_BYTES).toString("base64url");
  const share: ShareSummary = {
    id: shareHandle(linkId),
    vault_id: access.vault.id,
    secret_name: input.secretName,
    max_views: input.maxViews,
    view_count: 0,
    expires_at: new Date(acting.now.getTime() + input.expiresInMinutes * 60_000).toISOString(),
    created_by: acting.actor.userId,
    created_by_name: acting.actor.username,
    created_at: now,
  };
  const who: Viewer = { principal: acting.actor, address: acting.address, now: acting.now };
  const purged = await withTransactionRetry(db, async (trx) => {
    const purgedAny = await purgeExpired(trx, who);
    if ((await countSharesBy(trx, acting.actor.userId)) >= SHARES_PER_USER_MAX) {
      throw conflict(
        `You have ${SHARES_PER_USER_MAX} live share links; revoke some before making more.`,
      );
    }
    const { created_by_name: _name, ...row } = share;
    await insertShare(trx, { ...row, ciphertext: input.ciphertext });
    await audit(trx, who, "share.create", `${access.vault.slug}/${input.secretName}`, {
      link: shareReference(share.id),
      maxViews: share.max_views,
      expiresAt: share.expires_at,
    });
    return purgedAny;
  });
  if (purged) await dialectOf(db).scrubDeletedData(db);
  return { linkId, share };
}

/** What the holder of a link gets for one view. */
export interface SharedCiphertext {
  ciphertext: Buffer;
  /** Views left after this one; 0 when this was the last (the link is gone now). */
  viewsLeft: number;
  expiresAt: string;
}

function gone(): AppError {
  return new AppError("share-gone", 410, "Gone", {
    detail: "This share link has expired.",
  });
}

function noSuchShare(): AppError {
  return notFound("There is no such share link: it was used up, revoked, or never existed.");
}

/**
 * Takes one view of the link whose id is `linkId` and returns its ciphertext. The count, the audit events
 * (`share.view`, and `share.burn` with the last view) and, with the last view, the deletion
 * of the row commit together before anything is returned; concurrent opens of a one-view
 * link get the ciphertext once. 404 for an unknown, used-up or revoked link; 410 for one
 * found expired (and deleted then).
 * @throws whatever the database throws: then no view was counted and nothing is returned.
 */
export async function viewShare(db: Db, viewer: Viewer, linkId: string): Promise<SharedCiphertext> {
  const now = viewer.now.toISOString();
  const id = shareHandle(linkId);
  const outcome = await withTransactionRetry(
    db,
    async (
      trx,
    ): Promise<
      | { kind: "missing" }
      | { kind: "expired" }
      | ({ kind: "view"; last: boolean } & SharedCiphertext)
    > => {
      const row = await takeShareView(trx, id, now);
      if (row === null) {
        const existing = await findShareSummary(trx, id);
        if (existing === null) return { kind: "missing" };
        // A used-up link is deleted with its last view, so what is left here has expired.
        await deleteShare(trx, id);
        const slug = (await findVaultSlug(trx, existing.vault_id)) ?? existing.vault_id;
        await audit(trx, viewer, "share.expire", `${slug}/${existing.secret_name}`, {
          link: shareReference(id),
        });
        return { kind: "expired" };
      }
      const target = `${(await findVaultSlug(trx, row.vault_id)) ?? row.vault_id}/${row.secret_name}`;
      const link = shareReference(id);
      await audit(trx, viewer, "share.view", target, {
        link,
        view: row.view_count,
        maxViews: row.max_views,
      });
      const last = row.view_count >= row.max_views;
      if (last) {
        await deleteShare(trx, id);
        await audit(trx, viewer, "share.burn", target, { link, views: row.view_count });
      }
      return {
        kind: "view",
        last,
        ciphertext: row.ciphertext,
        viewsLeft: row.max_views - row.view_count,
        expiresAt: row.expires_at,
      };
    },
  );
  if (outcome.kind === "missing") throw noSuchShare();
  // The ciphertext is deleted: make it leave the database files too (docs/security/deletion.md).
  if (outcome.kind === "expired" || outcome.last) await dialectOf(db).scrubDeletedData(db);
  if (outcome.kind === "expired") throw gone();
  return {
    ciphertext: outcome.ciphertext,
    viewsLeft: outcome.viewsLeft,
    expiresAt: outcome.expiresAt,
  };
}

/**
 * Live links to one secret: every link for a caller who may manage the vault's links
 * (owners), otherwise the caller's own. `access` comes from authorizeVault with `share.create`.
 */
export async function listSecretShares(
  db: Db,
  actor: Principal,
  access: VaultAccess,
  secretName: string,
  options: { limit: number; now: Date },
): Promise<ShareSummary[]> {
  await findSecretOrThrow(db, access, secretName);
  const manager = decide(actor, "share.manage", {
    vaultId: access.vault.id,
    role: access.role,
  }).allowed;
  const rows = await listShares(db, {
    vaultId: access.vault.id,
    secretName,
    createdBy: manager ? null : actor.userId,
    limit: options.limit,
  });
  // Expired links not yet purged are as good as gone.
  const now = options.now.toISOString();
  return rows.filter((row) => row.expires_at > now);
}

/**
 * Revokes a link, named by its id or its handle: its creator may (while still able to see the vault), and so may whoever
 * manages the vault's links (owners). 404 for an unknown link or a vault the caller may not
 * see; 403 for a member who may not. The row and its ciphertext are deleted (`share.revoke`).
 */
export async function revokeShare(
  db: Db,
  acting: Acting,
  idOrHandle: string,
): Promise<ShareSummary> {
  const id = isShareHandle(idOrHandle) ? idOrHandle : shareHandle(idOrHandle);
  const share = await findShareSummary(db, id);
  if (share === null) throw noSuchShare();
  const slug = await findVaultSlug(db, share.vault_id);
  if (slug === null) throw noSuchShare();
  const own = share.created_by === acting.actor.userId;
  await authorizeVault(db, acting.actor, slug, own ? "vault.read" : "share.manage");
  const deleted = await withTransactionRetry(db, async (trx) => {
    if (!(await deleteShare(trx, id))) return false;
    await audit(
      trx,
      { principal: acting.actor, address: acting.address, now: acting.now },
      "share.revoke",
      `${slug}/${share.secret_name}`,
      { link: shareReference(id) },
    );
    return true;
  });
  // Burned or revoked meanwhile: gone either way, as the caller asked.
  if (!deleted) throw noSuchShare();
  await dialectOf(db).scrubDeletedData(db);
  return share;
}

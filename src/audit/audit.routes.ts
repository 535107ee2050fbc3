import type { FastifyInstance } from "fastify";
import type { z } from "zod";
import type { Db } from "../db/schema.js";
import { requirePrincipal } from "../http/authentication.js";
import type { ZodTypeProvider } from "../http/zod.js";
import { authorize } from "../policy/policy.js";
import type { SequencedAuditRow } from "./audit.repository.js";
import {
  auditEventResponse,
  auditPageResponse,
  auditQuerySchema,
  encodeAuditCursor,
} from "./audit.schema.js";
import { listAuditPage } from "./audit.service.js";

export interface AuditRouteOptions {
  /** Read on every request (not captured at registration), so it may be a getter. */
  db: Db;
}

/**
 * `GET /audit`: the audit log for admins and auditors signed in with a session (API tokens
 * are refused by the policy), newest first, filtered by actor, action and time window,
 * paginated with an opaque cursor. Register it under `/api/v1`.
 */
export async function auditRoutes(app: FastifyInstance, options: AuditRouteOptions): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get(
    "/audit",
    {
      // Before validation, so an anonymous or unauthorised caller learns nothing from a 400.
      preValidation: async (request) => {
        authorize(requirePrincipal(request), "audit.read");
      },
      schema: { querystring: auditQuerySchema, response: { 200: auditPageResponse } },
    },
    async (request) => {
      const query = request.query;
      const page = await listAuditPage(options.db, {
        actorKey: query.actor?.toLowerCase(),
        action: query.action,
        since: query.since,
        until: query.until,
        beforeSeq: query.cursor,
        limit: query.limit,
      });
      return {
        events: page.events.map(presentAuditEvent),
        nextCursor: page.nextBeforeSeq === null ? null : encodeAuditCursor(page.nextBeforeSeq),
      };
    },
  );
}

/**
 * An event as auditors see it: the allow-list of fields. The chain columns and the actor's
 * internal id stay in the database; `details` is passed on only as the flat object
 * `recordAuditEvent` writes (anything else — a row edited by hand — shows as null, and
 * `strongroom audit verify` reports it).
 */
export function presentAuditEvent(row: SequencedAuditRow): z.infer<typeof auditEventResponse> {
  return {
    id: row.id,
    at: row.at,
    actor: row.actor_name,
    action: row.action,
    target: row.target,
    address: row.address,
    outcome: row.outcome,
    details: parseDetails(row.details),
  };
}

function parseDetails(text: string | null): z.infer<typeof auditEventResponse>["details"] {
  if (text === null) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return null;
  }
  const result = auditEventResponse.shape.details.safeParse(parsed);
  return result.success ? result.data : null;
}

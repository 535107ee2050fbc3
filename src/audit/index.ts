/** The tamper-evident audit log: recording, verifying and reading events. */

export type { AuditRouteOptions } from "./audit.routes.js";
export { auditRoutes } from "./audit.routes.js";
export type { AuditEvent, AuditEventCounter, AuditOutcome } from "./audit.service.js";
export { GENESIS_HASH, hashAuditRow, recordAuditEvent } from "./audit.service.js";
export type { AuditChainVerdict } from "./audit-verify.js";
export { verifyAuditChain } from "./audit-verify.js";

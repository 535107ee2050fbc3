/** One-time share links (SPEC §4 `/shares`): what app.ts and the pages use. */

export type { ShareRouteOptions } from "./shares.routes.js";
export { sharePath, shareRoutes } from "./shares.routes.js";
export { listSecretShares, revokeShare } from "./shares.service.js";

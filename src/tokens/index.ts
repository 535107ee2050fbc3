/** API tokens (SPEC §3 "API token", §4 `/me/tokens`): what other modules and app.ts use. */
export { bearerAuthenticator } from "./bearer.js";
export type { TokenRouteOptions } from "./tokens.routes.js";
export { tokenRoutes } from "./tokens.routes.js";
export { revokeAllUserTokens } from "./tokens.service.js";

/** User administration (SPEC §4 `/admin/users`). */
export type { AdminRoutesOptions } from "./admin.routes.js";
export { adminRoutes } from "./admin.routes.js";
export type { UserChanges, UserListPage, UserListRequest } from "./admin.service.js";
export {
  changeUser,
  deleteUser,
  endAllSessions,
  endUserSessions,
  lastAdministrator,
  listUsers,
  soleVaultOwner,
} from "./admin.service.js";

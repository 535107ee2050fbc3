import { z } from "zod";
import {
  EMAIL_MAX_LENGTH,
  emailSchema,
  passwordSchema,
  usernameSchema,
  userResponse,
} from "../accounts/accounts.schema.js";

/** Users per page of `GET /admin/users` when `limit` is not given. */
export const ADMIN_USERS_PAGE_DEFAULT = 50;
/** The most users one page of `GET /admin/users` returns. */
export const ADMIN_USERS_PAGE_MAX = 200;
/** The longest search text: long enough for any e-mail address, short enough to stay cheap. */
export const ADMIN_USERS_QUERY_MAX_LENGTH = EMAIL_MAX_LENGTH;
/** A cursor is ~80 characters; anything much longer is not one of ours. */
export const ADMIN_USERS_CURSOR_MAX_LENGTH = 128;

export const systemRoleSchema = z.enum(["admin", "auditor", "member"], {
  error: "must be admin, auditor or member",
});

/**
 * `GET /admin/users` query. Strict: an unknown parameter is a 400, not silently ignored (a
 * misspelt filter would otherwise list everyone).
 */
export const listUsersQuery = z.strictObject({
  query: z
    .string()
    .min(1, { error: "must not be empty" })
    .max(ADMIN_USERS_QUERY_MAX_LENGTH, {
      error: `must be at most ${ADMIN_USERS_QUERY_MAX_LENGTH} characters`,
    })
    .optional(),
  role: systemRoleSchema.optional(),
  disabled: z
    .enum(["true", "false"], { error: "must be true or false" })
    .transform((value) => value === "true")
    .optional(),
  limit: z
    .string()
    .regex(/^[0-9]{1,3}$/, { error: `must be a whole number from 1 to ${ADMIN_USERS_PAGE_MAX}` })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(1, { error: `must be a whole number from 1 to ${ADMIN_USERS_PAGE_MAX}` })
        .max(ADMIN_USERS_PAGE_MAX, {
          error: `must be a whole number from 1 to ${ADMIN_USERS_PAGE_MAX}`,
        }),
    )
    .default(ADMIN_USERS_PAGE_DEFAULT),
  cursor: z
    .string()
    .min(1, { error: "must not be empty" })
    .max(ADMIN_USERS_CURSOR_MAX_LENGTH, { error: "is not a valid cursor" })
    .optional(),
});

/** `POST /admin/users`: an active account, made by an administrator. Role defaults to member. */
export const createUserBody = z.strictObject({
  username: usernameSchema,
  email: emailSchema,
  password: passwordSchema,
  role: systemRoleSchema.default("member"),
});

/**
 * `PATCH /admin/users/{username}`: only the role and the disabled flag. Strict, so `username`,
 * `email`, `password` or anything else is a 400 rather than silently ignored.
 */
export const updateUserBody = z
  .strictObject({
    role: systemRoleSchema.optional(),
    disabled: z.boolean({ error: "must be true or false" }).optional(),
  })
  .refine((body) => body.role !== undefined || body.disabled !== undefined, {
    error: "must change role or disabled",
  });

export const usernameParams = z.strictObject({ username: usernameSchema });

export const userListResponse = z.object({
  users: z.array(userResponse),
  /** Pass as `cursor` for the next page; null on the last page. */
  nextCursor: z.string().nullable(),
});

export const userEnvelopeResponse = z.object({ user: userResponse });

/**
 * `DELETE /admin/users/{username}/sessions` and `DELETE /admin/sessions`: how many sessions
 * ended (API tokens are not sessions and are not counted).
 */
export const endedSessionsResponse = z.object({ endedSessions: z.number().int().min(0) });

import assert from "node:assert/strict";
import type { LightMyRequestResponse } from "fastify";
import { createUser } from "../../src/accounts/registration.service.js";
import type { UserRow } from "../../src/accounts/users.repository.js";
import type { TestApp } from "./app.js";

/** A password that passes the policy and belongs to no list. */
export const GOOD_PASSWORD = "violet-lantern-orbit-29-quartz";

/** Creates an active user directly, as `strongroom users create` does. */
export async function createTestUser(
  t: TestApp,
  input: { username: string; email?: string; password?: string; role?: UserRow["role"] },
): Promise<UserRow> {
  return createUser(
    t.database.db,
    { config: t.config, now: () => t.clock.now() },
    {
      username: input.username,
      email: input.email ?? `${input.username.toLowerCase()}@example.test`,
      password: input.password ?? GOOD_PASSWORD,
      role: input.role ?? "member",
    },
    { id: null, name: "test", address: null },
  );
}

/** The `name=value` of the session cookie a response set, or null. */
export function sessionCookieFrom(response: LightMyRequestResponse): string | null {
  const cookie = response.cookies.find(
    (c) => c.name.endsWith("strongroom_session") && c.value !== "",
  );
  return cookie === undefined ? null : `${cookie.name}=${cookie.value}`;
}

export interface SignedIn {
  cookie: string;
  csrfToken: string;
  userId: string;
}

/** Signs in through the API and returns the cookie and CSRF token. */
export async function signIn(
  t: TestApp,
  username: string,
  password = GOOD_PASSWORD,
  totp?: string,
): Promise<SignedIn> {
  const response = await t.app.inject({
    method: "POST",
    url: "/api/v1/auth/login",
    payload: { username, password, ...(totp ? { totp } : {}) },
  });
  assert.equal(response.statusCode, 200, response.body);
  const body = JSON.parse(response.body) as { user: { id: string }; csrfToken: string };
  const cookie = sessionCookieFrom(response);
  assert.ok(cookie);
  return { cookie, csrfToken: body.csrfToken, userId: body.user.id };
}

/** Headers for an unsafe request as a signed-in browser sends it. */
export function asSession(session: SignedIn): Record<string, string> {
  return { cookie: session.cookie, "x-csrf-token": session.csrfToken };
}

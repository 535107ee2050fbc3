import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { Db } from "../db/schema.js";
import { requirePrincipal } from "../http/authentication.js";
import type { ZodTypeProvider } from "../http/zod.js";
import { notFound } from "../lib/errors.js";
import { authorize } from "../policy/policy.js";
import { authorizeVault } from "./access.js";
import type { VaultRow } from "./vaults.repository.js";
import { findEnabledUserByUsernameKey, listMembers } from "./vaults.repository.js";
import {
  createVaultBody,
  memberParams,
  memberResponse,
  putMemberBody,
  updateVaultBody,
  vaultParams,
  vaultResponse,
} from "./vaults.schema.js";
import type { Acting } from "./vaults.service.js";
import {
  createVault,
  deleteVault,
  listVaults,
  putMember,
  removeMember,
  updateVault,
} from "./vaults.service.js";

export interface VaultRouteOptions {
  db: Db;
  now: () => Date;
}

function presentVault(
  vault: VaultRow,
  role: "owner" | "editor" | "viewer",
): z.infer<typeof vaultResponse> {
  return {
    slug: vault.slug,
    description: vault.description,
    role,
    createdAt: vault.created_at,
    updatedAt: vault.updated_at,
  };
}

/** The caller and the moment, for services and the audit log. */
export function actingFrom(request: FastifyRequest, now: () => Date): Acting {
  return { actor: requirePrincipal(request), address: request.ip, now: now() };
}

/** `/vaults`, `/vaults/{vault}`, `/vaults/{vault}/members*`. Every route asks the policy. */
export async function vaultRoutes(
  app: FastifyInstance,
  { db, now }: VaultRouteOptions,
): Promise<void> {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get(
    "/vaults",
    { schema: { response: { 200: z.object({ vaults: z.array(vaultResponse) }) } } },
    async (request) => {
      const actor = requirePrincipal(request);
      authorize(actor, "vault.list");
      return {
        vaults: (await listVaults(db, actor)).map((vault) => presentVault(vault, vault.role)),
      };
    },
  );

  routes.post(
    "/vaults",
    { schema: { body: createVaultBody, response: { 201: z.object({ vault: vaultResponse }) } } },
    async (request, reply) => {
      const acting = actingFrom(request, now);
      authorize(acting.actor, "vault.create");
      const vault = await createVault(db, acting, request.body);
      reply.status(201);
      return { vault: presentVault(vault, "owner") };
    },
  );

  routes.get(
    "/vaults/:vault",
    { schema: { params: vaultParams, response: { 200: z.object({ vault: vaultResponse }) } } },
    async (request) => {
      const access = await authorizeVault(
        db,
        requirePrincipal(request),
        request.params.vault,
        "vault.read",
      );
      return { vault: presentVault(access.vault, access.role) };
    },
  );

  routes.patch(
    "/vaults/:vault",
    {
      schema: {
        params: vaultParams,
        body: updateVaultBody,
        response: { 200: z.object({ vault: vaultResponse }) },
      },
    },
    async (request) => {
      const acting = actingFrom(request, now);
      const access = await authorizeVault(db, acting.actor, request.params.vault, "vault.update");
      return {
        vault: presentVault(
          await updateVault(db, acting, access, request.body.description),
          access.role,
        ),
      };
    },
  );

  routes.delete("/vaults/:vault", { schema: { params: vaultParams } }, async (request, reply) => {
    const acting = actingFrom(request, now);
    const access = await authorizeVault(db, acting.actor, request.params.vault, "vault.delete");
    await deleteVault(db, acting, access);
    reply.status(204);
  });

  routes.get(
    "/vaults/:vault/members",
    {
      schema: {
        params: vaultParams,
        response: { 200: z.object({ members: z.array(memberResponse) }) },
      },
    },
    async (request) => {
      const access = await authorizeVault(
        db,
        requirePrincipal(request),
        request.params.vault,
        "member.list",
      );
      const members = await listMembers(db, access.vault.id);
      return {
        members: members.map((m) => ({
          username: m.username,
          role: m.role,
          addedAt: m.created_at,
        })),
      };
    },
  );

  routes.put(
    "/vaults/:vault/members/:username",
    {
      config: { stepUp: true },
      schema: {
        params: memberParams,
        body: putMemberBody,
        response: { 200: memberResponse, 201: memberResponse },
      },
    },
    async (request, reply) => {
      const acting = actingFrom(request, now);
      const access = await authorizeVault(db, acting.actor, request.params.vault, "member.manage");
      const result = await putMember(
        db,
        acting,
        access,
        request.params.username,
        request.body.role,
      );
      reply.status(result.created ? 201 : 200);
      return { username: result.username, role: result.role, addedAt: acting.now.toISOString() };
    },
  );

  routes.delete(
    "/vaults/:vault/members/:username",
    { config: { stepUp: true }, schema: { params: memberParams } },
    async (request, reply) => {
      const acting = actingFrom(request, now);
      const leaving =
        request.params.username.toLowerCase() === acting.actor.username.toLowerCase() &&
        acting.actor.kind === "session";
      // Owners remove anyone; any member may leave (remove themselves).
      const access = await authorizeVault(
        db,
        acting.actor,
        request.params.vault,
        leaving ? "vault.read" : "member.manage",
      );
      const user = await findEnabledUserByUsernameKey(db, request.params.username.toLowerCase());
      if (user === null) throw notFound("That user is not a member of this vault.");
      await removeMember(db, acting, access, user.id, user.username);
      reply.status(204);
    },
  );
}

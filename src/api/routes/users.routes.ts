/**
 * /users, /tokens and /groups: identity management. Handlers only take the validated input, call
 * the users service and set the status; declarations (schemas, access) live in users.schema.ts.
 */
import Router from '@koa/router';
import {
  addUserToGroup,
  createGroup,
  createToken,
  createUser,
  getCurrentUser,
  getUsers,
  removeUserFromGroup,
  revokeToken,
} from '../../admin/users.service';
import type { TokenAuthenticator } from '../../security/tokens';
import { actor } from '../middleware/auth';
import { mountRoute } from '../openapi';
import { usersApi } from './users.schema';
import type { AppDeps } from '../deps';

/** The identity router (mounted after authentication); a revocation reaches `tokens` at once. */
export function usersRouter(deps: AppDeps, tokens: TokenAuthenticator): Router {
  const router = new Router();
  mountRoute(router, usersApi.me, async (ctx) => {
    ctx.body = await getCurrentUser(deps, actor(ctx));
  });
  mountRoute(router, usersApi.create, async (ctx, { body }) => {
    ctx.body = await createUser(deps, body);
    ctx.status = 201;
  });
  mountRoute(router, usersApi.list, async (ctx) => {
    ctx.body = await getUsers(deps);
  });
  mountRoute(router, usersApi.createToken, async (ctx, { params, body }) => {
    ctx.body = await createToken(deps, params.id, body);
    ctx.status = 201;
  });
  mountRoute(router, usersApi.revokeToken, async (ctx, { params }) => {
    await revokeToken(deps, actor(ctx), params.id);
    tokens.forget(params.id);
    ctx.status = 204;
  });
  mountRoute(router, usersApi.createGroup, async (ctx, { body }) => {
    ctx.body = await createGroup(deps, body);
    ctx.status = 201;
  });
  mountRoute(router, usersApi.addMember, async (ctx, { params }) => {
    await addUserToGroup(deps, params.id, params.userId);
    ctx.status = 204;
  });
  mountRoute(router, usersApi.removeMember, async (ctx, { params }) => {
    await removeUserFromGroup(deps, params.id, params.userId);
    ctx.status = 204;
  });
  return router;
}

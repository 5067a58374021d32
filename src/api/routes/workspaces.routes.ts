/**
 * /workspaces: the caller's workspaces (what POST /chats can attach with `workspace_id`). Read from
 * the `workspaces` rows only; creating, starting and stopping workspaces is the agent's (its tools).
 */
import Router from '@koa/router';
import { listWorkspaces } from '../../workspaces/workspaces.service';
import { actor } from '../middleware/auth';
import { mountRoute } from '../openapi';
import { workspacesApi as api } from './workspaces.schema';
import type { AppDeps } from '../deps';

/** The workspaces router (mounted after authentication). */
export function workspacesRouter(deps: AppDeps): Router {
  const router = new Router();
  mountRoute(router, api.list, async (ctx) => {
    ctx.body = { workspaces: await listWorkspaces(deps, actor(ctx)) };
  });
  return router;
}

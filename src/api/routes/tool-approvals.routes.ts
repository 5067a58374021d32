/** Tool approval routes (docs/tool-approval.md); declarations live in tool-approvals.schema.ts. */
import Router from '@koa/router';
import { getBuiltInApprovalPolicy, setBuiltInApprovalPolicy } from '../../admin/tool-approval-policy.service';
import { decideToolCall, listToolApprovals } from '../../chat/tool-approvals.service';
import { actor } from '../middleware/auth';
import { mountRoute } from '../openapi';
import { toolApprovalsApi as api } from './tool-approvals.schema';
import type { AppDeps } from '../deps';

export function toolApprovalsRouter(deps: AppDeps): Router {
  const router = new Router();
  mountRoute(router, api.list, async (ctx, { params, query }) => {
    ctx.body = await listToolApprovals(deps, actor(ctx), params.id, { pendingOnly: query.pending, limit: query.limit });
  });
  mountRoute(router, api.decide, async (ctx, { params, body }) => {
    ctx.body = await decideToolCall(deps, actor(ctx), params.id, params.callId, body);
  });
  mountRoute(router, api.getPolicy, async (ctx) => {
    ctx.body = await getBuiltInApprovalPolicy(deps.db);
  });
  mountRoute(router, api.putPolicy, async (ctx, { body }) => {
    ctx.body = await setBuiltInApprovalPolicy(deps.db, body);
  });
  return router;
}

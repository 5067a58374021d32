/**
 * /cost: cost summaries and the admin's per-user roll-up. Handlers pass the validated input to the cost
 * report service; declarations live in cost.schema.ts.
 */
import Router from '@koa/router';
import { getCostByUser, getCostSummary } from '../../usage/cost-report';
import { actor } from '../middleware/auth';
import { mountRoute } from '../openapi';
import { costApi } from './cost.schema';
import type { AppDeps } from '../deps';

/** The cost router (mounted after authentication). */
export function costRouter(deps: AppDeps): Router {
  const router = new Router();
  mountRoute(router, costApi.users, async (ctx, { query }) => {
    ctx.body = await getCostByUser(deps, query);
  });
  mountRoute(router, costApi.summary, async (ctx, { params, query }) => {
    ctx.body = await getCostSummary(deps, actor(ctx), params.user, query);
  });
  return router;
}

/**
 * /usage-limits: the admin's spend limit setting and per-user and per-group limits, and the caller's
 * status. Handlers take the validated input, call the services and set the status; declarations live in
 * usage-limits.schema.ts.
 */
import Router from '@koa/router';
import {
  deleteGroupLimit,
  deleteUserLimit,
  getUsageLimitConfig,
  putGroupLimit,
  putUsageLimitConfig,
  putUserLimit,
} from '../../admin/usage-limits.service';
import { SpendCheck } from '../../usage/spend-check';
import { pgUsageStore } from '../../usage/store';
import { actor } from '../middleware/auth';
import { mountRoute } from '../openapi';
import { usageLimitsApi as api } from './usage-limits.schema';
import type { AppDeps } from '../deps';

/** The usage limits router (mounted after authentication). */
export function usageLimitsRouter(deps: AppDeps): Router {
  const router = new Router();
  mountRoute(router, api.status, async (ctx) => {
    // The status reads fresh either way; without the process's check (tests), one without a cache does.
    const check = deps.usage ?? new SpendCheck(pgUsageStore(deps.db), deps.log, { cacheMs: 0 });
    ctx.body = await check.status(actor(ctx).id);
  });
  mountRoute(router, api.get, async (ctx) => {
    ctx.body = await getUsageLimitConfig(deps);
  });
  mountRoute(router, api.put, async (ctx, { body }) => {
    ctx.body = await putUsageLimitConfig(deps, body);
  });
  mountRoute(router, api.putUser, async (ctx, { params, body }) => {
    ctx.body = await putUserLimit(deps, params.id, body.spend_limit_micros);
  });
  mountRoute(router, api.deleteUser, async (ctx, { params }) => {
    await deleteUserLimit(deps, params.id);
    ctx.status = 204;
  });
  mountRoute(router, api.putGroup, async (ctx, { params, body }) => {
    ctx.body = await putGroupLimit(deps, params.id, body.spend_limit_micros);
  });
  mountRoute(router, api.deleteGroup, async (ctx, { params }) => {
    await deleteGroupLimit(deps, params.id);
    ctx.status = 204;
  });
  return router;
}

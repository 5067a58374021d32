/**
 * /config: the system prompt (admin write), the caller's custom prompt and compaction threshold
 * overrides. Handlers pass the validated input to the config service and shape the response.
 */
import Router from '@koa/router';
import {
  deleteCompactionThreshold,
  getCompactionThreshold,
  getSystemPrompt,
  getUserPrompt,
  listCompactionThresholds,
  setCompactionThreshold,
  setSystemPrompt,
  setUserPrompt,
} from '../../admin/chat-settings.service';
import { actor } from '../middleware/auth';
import { mountRoute } from '../openapi';
import { configApi as api } from './config.schema';
import type { AppDeps } from '../deps';

/** The config router (mounted after authentication). */
export function configRouter(deps: AppDeps): Router {
  const router = new Router();
  mountRoute(router, api.getSystemPrompt, async (ctx) => {
    ctx.body = { system_prompt: (await getSystemPrompt(deps.db)) ?? '' };
  });
  mountRoute(router, api.putSystemPrompt, async (ctx, { body }) => {
    await setSystemPrompt(deps, body.system_prompt);
    ctx.status = 204;
  });
  mountRoute(router, api.getUserPrompt, async (ctx) => {
    ctx.body = { custom_prompt: (await getUserPrompt(deps.db, actor(ctx).id)) ?? '' };
  });
  mountRoute(router, api.putUserPrompt, async (ctx, { body }) => {
    ctx.body = { custom_prompt: (await setUserPrompt(deps, actor(ctx), body.custom_prompt)) ?? '' };
  });
  mountRoute(router, api.listThresholds, async (ctx) => {
    ctx.body = { thresholds: await listCompactionThresholds(deps, actor(ctx)) };
  });
  mountRoute(router, api.getThreshold, async (ctx, { params }) => {
    ctx.body = await getCompactionThreshold(deps, actor(ctx), params.modelConfigId);
  });
  mountRoute(router, api.putThreshold, async (ctx, { params, body }) => {
    ctx.body = await setCompactionThreshold(deps, actor(ctx), params.modelConfigId, body.threshold_percent);
  });
  mountRoute(router, api.deleteThreshold, async (ctx, { params }) => {
    await deleteCompactionThreshold(deps, actor(ctx), params.modelConfigId);
    ctx.status = 204;
  });
  return router;
}

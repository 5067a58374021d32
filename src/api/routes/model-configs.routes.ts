/**
 * /chat-providers (admin) and /model-configs (members list enabled ones; admins write). Handlers
 * only pass the validated input to the model-configs service, which also invalidates the model cache.
 */
import Router from '@koa/router';
import {
  createModelConfig,
  createProvider,
  deleteModelConfigById,
  deleteProviderConfig,
  getModelConfigs,
  getProviders,
  updateModelConfigById,
  updateProviderConfig,
} from '../../admin/model-configs.service';
import { actor } from '../middleware/auth';
import { mountRoute } from '../openapi';
import { modelConfigsApi as api } from './model-configs.schema';
import type { AppDeps } from '../deps';

/** The providers and model-configs router (mounted after authentication). */
export function modelConfigsRouter(deps: AppDeps): Router {
  const router = new Router();
  mountRoute(router, api.listProviders, async (ctx) => {
    ctx.body = await getProviders(deps);
  });
  mountRoute(router, api.createProvider, async (ctx, { body }) => {
    ctx.body = await createProvider(deps, actor(ctx), body);
    ctx.status = 201;
  });
  mountRoute(router, api.updateProvider, async (ctx, { params, body }) => {
    ctx.body = await updateProviderConfig(deps, params.id, body);
  });
  mountRoute(router, api.deleteProvider, async (ctx, { params }) => {
    await deleteProviderConfig(deps, params.id);
    ctx.status = 204;
  });

  mountRoute(router, api.listModelConfigs, async (ctx) => {
    ctx.body = await getModelConfigs(deps, actor(ctx));
  });
  mountRoute(router, api.createModelConfig, async (ctx, { body }) => {
    ctx.body = await createModelConfig(deps, actor(ctx), body);
    ctx.status = 201;
  });
  mountRoute(router, api.updateModelConfig, async (ctx, { params, body }) => {
    ctx.body = await updateModelConfigById(deps, actor(ctx), params.id, body);
  });
  mountRoute(router, api.deleteModelConfig, async (ctx, { params }) => {
    await deleteModelConfigById(deps, actor(ctx), params.id);
    ctx.status = 204;
  });
  return router;
}

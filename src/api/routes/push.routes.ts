/**
 * /push: web push for the caller's browsers. The routes only store and delete subscriptions; the
 * worker sends the pushes when a turn ends (src/push/turn-notifier.ts). Without VAPID keys the key and
 * subscribe routes answer 501 `push_disabled`; deleting still works, so clients can clean up.
 */
import Router from '@koa/router';
import { PushDisabledError, subscribe, unsubscribe } from '../../push/subscriptions.service';
import { actor } from '../middleware/auth';
import { mountRoute } from '../openapi';
import { pushApi as api } from './push.schema';
import type { AppDeps } from '../deps';

/** The web push router (mounted after authentication). */
export function pushRouter(deps: AppDeps): Router {
  const router = new Router();
  const publicKey = (): string => {
    if (!deps.vapidPublicKey) throw new PushDisabledError();
    return deps.vapidPublicKey;
  };
  mountRoute(router, api.vapidPublicKey, (ctx) => {
    ctx.body = { public_key: publicKey() };
  });
  mountRoute(router, api.subscribe, async (ctx, { body }) => {
    publicKey();
    const { subscription, created } = await subscribe(deps.db, actor(ctx), body);
    ctx.status = created ? 201 : 200;
    ctx.body = subscription;
  });
  mountRoute(router, api.unsubscribe, async (ctx, { params }) => {
    await unsubscribe(deps.db, actor(ctx), { id: params.id });
    ctx.status = 204;
  });
  mountRoute(router, api.unsubscribeByEndpoint, async (ctx, { query }) => {
    await unsubscribe(deps.db, actor(ctx), { endpoint: query.endpoint });
    ctx.status = 204;
  });
  return router;
}

/** Liveness and readiness (PostgreSQL and Temporal reachable), outside authentication. */
import Router from '@koa/router';
import { sql } from 'kysely';
import type { AppDeps } from '../app';

export function healthRouter(deps: AppDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const [db, temporal] = await Promise.all([
      sql`select 1`.execute(deps.db).then(
        () => true,
        () => false,
      ),
      deps.checkTemporal().then(
        () => true,
        () => false,
      ),
    ]);
    ctx.status = db && temporal ? 200 : 503;
    ctx.body = { status: db && temporal ? 'ok' : 'unavailable', postgres: db, temporal };
  });
  return router;
}

/**
 * Liveness and readiness (PostgreSQL and Temporal reachable), outside authentication. Once the process
 * is shutting down, readiness answers 503 `draining` at once, without checking anything, so load
 * balancers stop sending requests while those in flight finish (README "Health").
 */
import Router from '@koa/router';
import { sql } from 'kysely';
import type { AppDeps } from '../deps';

export function healthRouter(deps: AppDeps): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    if (deps.draining?.()) {
      ctx.status = 503;
      ctx.body = { status: 'draining' };
      return;
    }
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
    ctx.body = { status: db && temporal ? 'ok' : 'unavailable', postgres: db, temporal, ...(await sandbox(deps)) };
  });
  return router;
}

/**
 * The workspace sandbox of this process, when it hosts workspaces: `on`, or `off` / `unavailable` with a
 * warning. A warning, not a failure: chats without tools still work, and the tools say what is wrong.
 */
async function sandbox(deps: AppDeps): Promise<{ workspace_sandbox?: string; warnings?: string[] }> {
  if (!deps.workspaceSandbox) return {};
  const status = await deps.workspaceSandbox();
  if (!status.ok) return { workspace_sandbox: 'unavailable', warnings: [status.reason] };
  if (status.off) {
    return {
      workspace_sandbox: 'off',
      warnings: ['CHATD_WORKSPACE_SANDBOX=off: workspace commands run unsandboxed on this host.'],
    };
  }
  return { workspace_sandbox: 'on' };
}

/** /users: the caller's identity. */
import Router from '@koa/router';
import type { AppDeps } from '../app';
import type { Actor } from '../../chat/chat.service';

export function usersRouter(deps: AppDeps): Router {
  const router = new Router({ prefix: '/users' });
  router.get('/me', async (ctx) => {
    const { id } = ctx.state.actor as Actor;
    const user = await deps.db
      .selectFrom('users')
      .select(['id', 'username', 'name', 'role', 'created_at'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    ctx.body = { ...user, created_at: user.created_at.toISOString() };
  });
  return router;
}

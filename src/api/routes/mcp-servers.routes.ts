/**
 * /admin/mcp-servers (admin configuration), /mcp-servers (what members may use) and the per-user OAuth
 * connection. The OAuth callback is public (the browser arrives without an API token; the one-time
 * state says whose authorization it is), so it has its own router, mounted before authentication.
 */
import Router from '@koa/router';
import {
  createMcpServer,
  deleteMcpServerById,
  getMcpServer,
  getMcpServers,
  updateMcpServerById,
} from '../../admin/mcp-servers.service';
import { McpOAuth } from '../../mcp/oauth';
import { connectServer, disconnectServer, listServersForUser } from '../../mcp/servers.service';
import { actor } from '../middleware/auth';
import { mountRoute } from '../openapi';
import { mcpServersApi as api } from './mcp-servers.schema';
import type { AppDeps } from '../deps';

/** The path of the OAuth callback below the API's base URL. */
const CALLBACK_PATH = `/api/v1${api.callback.path}`;

/** The admin and member routes (mounted after authentication). */
export function mcpServersRouter(deps: AppDeps): Router {
  const router = new Router();
  const oauth = new McpOAuth({ db: deps.db, secrets: deps.secrets, log: deps.log });

  mountRoute(router, api.adminList, async (ctx) => {
    ctx.body = await getMcpServers(deps);
  });
  mountRoute(router, api.adminGet, async (ctx, { params }) => {
    ctx.body = await getMcpServer(deps, params.id);
  });
  mountRoute(router, api.adminCreate, async (ctx, { body }) => {
    ctx.body = await createMcpServer(deps, actor(ctx), body);
    ctx.status = 201;
  });
  mountRoute(router, api.adminUpdate, async (ctx, { params, body }) => {
    ctx.body = await updateMcpServerById(deps, actor(ctx), params.id, body);
  });
  mountRoute(router, api.adminDelete, async (ctx, { params }) => {
    await deleteMcpServerById(deps, params.id);
    ctx.status = 204;
  });

  mountRoute(router, api.list, async (ctx) => {
    ctx.body = await listServersForUser(deps.db, actor(ctx));
  });
  mountRoute(router, api.connect, async (ctx, { params }) => {
    // The redirect URI must be the same at the exchange: it is stored with the pending authorization.
    // Without CHATD_PUBLIC_URL: this request's scheme and host (X-Forwarded-* honoured, app.proxy is on).
    const redirectUri = `${deps.publicUrl ?? `${ctx.protocol}://${ctx.host}`}${CALLBACK_PATH}`;
    ctx.body = await connectServer(deps.db, oauth, actor(ctx), params.id, redirectUri);
  });
  mountRoute(router, api.disconnect, async (ctx, { params }) => {
    await disconnectServer(deps.db, oauth, actor(ctx), params.id);
    ctx.status = 204;
  });
  return router;
}

/** The public OAuth callback (mounted before authentication). */
export function mcpOAuthCallbackRouter(deps: AppDeps): Router {
  const router = new Router();
  const oauth = new McpOAuth({ db: deps.db, secrets: deps.secrets, log: deps.log });
  mountRoute(router, api.callback, async (ctx, { query }) => {
    const done = await oauth.completeAuthorization(query);
    ctx.type = 'text/html; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = connectedPage(done.displayName);
  });
  return router;
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function connectedPage(server: string): string {
  const name = escapeHtml(server);
  return (
    `<!doctype html><html><head><meta charset="utf-8"><title>Connected to ${name}</title></head>` +
    `<body><p>Your account is connected to ${name}. You can close this window.</p></body></html>`
  );
}

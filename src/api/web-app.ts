/**
 * The playground (README "Playground") served at `/`: the static files `npm run build:web` writes to
 * dist/web. Anything below /api/ or /metrics is never looked up here. Every page is sent with a
 * Content-Security-Policy that allows only this origin's scripts, styles and API, and blob: images
 * (stored images are fetched with the token), so text a model wrote cannot run or load anything even
 * if a rendering bug let markup through. Hashed assets are cached for a year; index.html never is.
 */
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type Koa from 'koa';
import serve from 'koa-static';

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob:",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Where the build lands: dist/web beside src/ (tsx) or beside dist/src/ (the compiled server). */
const BUILT_DIRS = [path.resolve(__dirname, '../../dist/web'), path.resolve(__dirname, '../../web')];

/** The directory to serve: CHATD_WEB_DIR, or the build's; null when turned off (`off`). */
export function resolveWebDir(setting: string | undefined): string | null {
  if (setting === 'off') return null;
  if (setting) return path.resolve(setting);
  return BUILT_DIRS.find((dir) => existsSync(path.join(dir, 'index.html'))) ?? BUILT_DIRS[0]!;
}

const NOT_BUILT = 'The chatd playground is not built here: run `npm run build:web`, then reload.\n';

export function webApp(dir: string): Koa.Middleware {
  const files = serve(dir, {
    index: 'index.html',
    hidden: false,
    gzip: false,
    brotli: false,
    setHeaders(res, file) {
      res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Referrer-Policy', 'no-referrer');
      const hashed = path.relative(dir, file).startsWith(`assets${path.sep}`);
      res.setHeader('Cache-Control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });
  return async (ctx, next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || ctx.path.startsWith('/api/') || ctx.path === '/metrics') {
      return next();
    }
    await files(ctx, next);
    if (ctx.path === '/' && ctx.status === 404 && ctx.body === undefined) {
      ctx.status = 404;
      ctx.type = 'text/plain';
      ctx.body = NOT_BUILT;
    }
  };
}

/** Whether the playground's files are there to serve (`npm run build:web` wrote them). */
export function webAppBuilt(dir: string | null): boolean {
  return dir !== null && existsSync(path.join(dir, 'index.html'));
}

/**
 * /files: raw image upload and owner-only download. The JSON body parser ignores image content
 * types, so the upload handler reads `ctx.req` itself, with the size limit enforced while reading.
 */
import Router from '@koa/router';
import { MAX_FILE_BYTES, MAX_FILE_NAME_BYTES, truncateUtf8 } from '../../files/file-types';
import { getFile, uploadFile } from '../../files/files.service';
import { formatContentDisposition, parseContentDispositionFileName } from '../content-disposition';
import { actor } from '../middleware/auth';
import { mountRoute } from '../openapi';
import { readRawBody } from '../raw-body';
import { filesApi as api } from './files.schema';
import type { AppDeps } from '../deps';

/** The files router (mounted after authentication). */
export function filesRouter(deps: AppDeps): Router {
  const router = new Router();
  mountRoute(router, api.upload, async (ctx) => {
    ctx.body = await uploadFile(deps, actor(ctx), {
      contentType: ctx.get('Content-Type') || undefined,
      fileName: parseContentDispositionFileName(ctx.get('Content-Disposition') || undefined),
      readBody: () => readRawBody(ctx.req, MAX_FILE_BYTES, 'Files are limited to 10 MiB.'),
    });
    ctx.status = 201;
  });
  mountRoute(router, api.download, async (ctx, { params }) => {
    const file = await getFile(deps, actor(ctx), params.id);
    ctx.set('Cache-Control', 'private, max-age=31536000, immutable');
    ctx.set('Content-Disposition', formatContentDisposition('inline', truncateUtf8(file.name, MAX_FILE_NAME_BYTES)));
    ctx.set('X-Content-Type-Options', 'nosniff');
    // The bytes are never a document, so nothing in them may run even if a browser opens them directly.
    ctx.set('Content-Security-Policy', "default-src 'none'; sandbox");
    ctx.type = file.mediaType;
    ctx.body = file.data;
  });
  return router;
}

/**
 * /files: raw image upload and owner-only download. The JSON body parser ignores image content
 * types, so the upload handler reads `ctx.req` itself (with raw-body), with the size limit enforced
 * while reading.
 */
import type { IncomingMessage } from 'node:http';
import Router from '@koa/router';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { PayloadTooLargeError } from '../../errors';
import {
  isImageMediaType,
  MAX_FILE_BYTES,
  MAX_FILE_NAME_BYTES,
  normalizeMediaType,
  truncateUtf8,
} from '../../files/file-types';
import { getFile, uploadFile } from '../../files/files.service';
import { formatContentDisposition, parseContentDispositionFileName } from '../content-disposition';
import { actor } from '../middleware/auth';
import { idempotent } from '../middleware/idempotency';
import { mountRoute } from '../openapi';
import { filesApi as api } from './files.schema';
import type { AppDeps } from '../deps';

/**
 * The upload's bytes. A body over MAX_FILE_BYTES is refused from its Content-Length when declared, or
 * as soon as the streamed bytes exceed it, without buffering the excess. Throws PayloadTooLargeError
 * then; raw-body's other failures (a client that hung up: 400 `request.aborted`) pass through.
 */
async function readUpload(req: IncomingMessage): Promise<Buffer> {
  try {
    return await getRawBody(req, { length: req.headers['content-length'], limit: MAX_FILE_BYTES });
  } catch (err) {
    if ((err as { type?: unknown }).type !== 'entity.too.large') throw err;
    // raw-body leaves the request paused. Drain and discard the rest, so the upload does not stall with a full
    // TCP window and a client that sends its whole body before reading the response still gets the 413.
    req.resume();
    throw new PayloadTooLargeError('Files are limited to 10 MiB.');
  }
}

/** The upload's bytes, read once per request (the Idempotency-Key fingerprint may read them first). */
function uploadBytes(ctx: Context): Promise<Buffer> {
  return ((ctx.state as { uploadBytes?: Promise<Buffer> }).uploadBytes ??= readUpload(ctx.req));
}

/**
 * What an upload's Idempotency-Key fingerprint covers: its Content-Type, Content-Disposition and bytes. The
 * bytes of a type uploadFile refuses unread are not read for it either; that refusal depends on the headers only.
 */
async function uploadFingerprintBody(ctx: Context): Promise<Buffer> {
  const contentType = ctx.get('Content-Type');
  const headers = Buffer.from(`${contentType}\n${ctx.get('Content-Disposition')}\n`);
  if (!isImageMediaType(normalizeMediaType(contentType))) return headers;
  return Buffer.concat([headers, await uploadBytes(ctx)]);
}

/** The files router (mounted after authentication). */
export function filesRouter(deps: AppDeps): Router {
  const router = new Router();
  mountRoute(
    router,
    api.upload,
    idempotent(
      deps,
      async (ctx) => {
        ctx.body = await uploadFile(deps, actor(ctx), {
          contentType: ctx.get('Content-Type') || undefined,
          fileName: parseContentDispositionFileName(ctx.get('Content-Disposition') || undefined),
          readBody: () => uploadBytes(ctx),
        });
        ctx.status = 201;
      },
      { body: uploadFingerprintBody },
    ),
  );
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

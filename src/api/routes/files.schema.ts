/**
 * Route declarations of /files: raw image uploads and owner-only downloads. The
 * upload body is raw bytes, not JSON, so it is declared as a raw body rather than a zod schema.
 */
import { z } from 'zod';
import { IMAGE_MEDIA_TYPES } from '../../files/file-types';
import { idempotencyKeyHeaderDoc, idempotencyResponseDocs } from '../middleware/idempotency';
import { defineRoute } from '../openapi';
import { idParams, timestamp } from './common.schema';

export const fileIdParams = idParams('file');

export const fileSchema = z
  .object({
    id: z.uuid(),
    name: z.string().describe('The stored name (at most 255 UTF-8 bytes).'),
    media_type: z.enum(IMAGE_MEDIA_TYPES),
    size: z.number().int().describe('Size in bytes.'),
    created_at: timestamp,
  })
  .meta({ id: 'File' });

const tag = 'Files';

/** The file routes. */
export const filesApi = {
  upload: defineRoute({
    operationId: 'uploadFile',
    method: 'post',
    path: '/files',
    summary: 'Upload an image',
    description:
      'The body is the raw image (at most 10 MiB). The Content-Type must be PNG, JPEG, WebP or GIF and match the ' +
      'bytes (`unsupported_file_type`, `file_type_mismatch`); SVG is refused.',
    tag,
    access: 'user',
    schemas: {},
    rawBody: { contentTypes: IMAGE_MEDIA_TYPES, description: 'The image bytes.' },
    headers: [
      {
        name: 'Content-Disposition',
        description: 'Optional file name: `attachment; filename="a.png"; filename*=UTF-8\'\'%E2%82%AC.png` (RFC 5987).',
      },
      idempotencyKeyHeaderDoc,
    ],
    responses: {
      201: { description: 'The stored file.', schema: fileSchema },
      409: { description: idempotencyResponseDocs.inProgress },
      422: idempotencyResponseDocs[422],
      413: { description: 'The file is larger than 10 MiB (`payload_too_large`).' },
    },
  }),
  download: defineRoute({
    operationId: 'getFile',
    method: 'get',
    path: '/files/:id',
    summary: 'Download a file',
    description: 'Only the owner can read a file; anyone else gets 404. Served as immutable, privately cacheable.',
    tag,
    access: 'user',
    schemas: { params: fileIdParams },
    responses: { 200: { description: 'The file bytes, with their stored media type.', contentType: 'image/*' } },
  }),
};

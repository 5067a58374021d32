/**
 * Chat file uploads and downloads. An upload is accepted only when the declared
 * type is an allowed image type AND the bytes are that type; the declared type is checked before
 * the body is read, so a refused upload costs no memory. Files are visible to their owner only.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import { findChatFileForOwner, insertChatFile } from '../db/repositories/chat-files.repository';
import { NotFoundError, ValidationError } from '../errors';
import { isImageMediaType, normalizeMediaType, sanitizeFileName, sniffImageType } from './file-types';
import type { Actor } from '../security/actor';

/** An uploaded file's metadata, as the API shows it. */
export interface FileDto {
  id: string;
  name: string;
  media_type: string;
  size: number;
  created_at: string;
}

/** A stored file with its bytes, ready to serve. */
export interface StoredFile {
  id: string;
  name: string;
  mediaType: string;
  data: Buffer;
}

export interface UploadInput {
  /** The request's Content-Type header. */
  contentType: string | undefined;
  /** The file name from Content-Disposition, if any. */
  fileName: string | undefined;
  /** Reads the body; called only once the declared type is acceptable. Enforces the size limit. */
  readBody: () => Promise<Buffer>;
}

/**
 * Stores an image upload for `actor`. Throws ValidationError `unsupported_file_type` (not an
 * allowed image type, SVG included), `file_type_mismatch` (bytes are not the declared type) or
 * `empty_file`; `readBody` throws PayloadTooLargeError beyond the limit. Nothing is stored on error.
 */
export async function uploadFile(deps: { db: Kysely<Database> }, actor: Actor, input: UploadInput): Promise<FileDto> {
  const declared = normalizeMediaType(input.contentType);
  if (!isImageMediaType(declared)) {
    const message =
      declared === 'image/svg+xml'
        ? 'SVG images are not allowed.'
        : declared === ''
          ? 'The Content-Type header is required.'
          : `Files of type ${declared} are not allowed; upload a PNG, JPEG, WebP or GIF image.`;
    throw new ValidationError(message, undefined, 'unsupported_file_type');
  }
  const data = await input.readBody();
  if (data.length === 0) throw new ValidationError('The file is empty.', undefined, 'empty_file');
  const actual = sniffImageType(data);
  if (actual !== declared) {
    throw new ValidationError(
      `The file content is ${actual ?? 'not a supported image'}, but the Content-Type says ${declared}.`,
      undefined,
      'file_type_mismatch',
    );
  }
  const row = await insertChatFile(deps.db, {
    ownerId: actor.id,
    name: sanitizeFileName(input.fileName, declared),
    mimetype: declared,
    data,
  });
  return {
    id: row.id,
    name: row.name,
    media_type: row.mimetype,
    size: row.size,
    created_at: row.created_at.toISOString(),
  };
}

/** The caller's file with its bytes. Throws NotFoundError for a missing file or someone else's. */
export async function getFile(deps: { db: Kysely<Database> }, actor: Actor, id: string): Promise<StoredFile> {
  const row = await findChatFileForOwner(deps.db, id, actor.id);
  if (!row) throw new NotFoundError('file');
  return { id: row.id, name: row.name, mediaType: row.mimetype, data: row.data };
}

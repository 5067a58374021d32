/**
 * File parts of user messages at the moment a message is accepted: every `file_id` must name a file
 * the sender owns, and the stored part records the file's name and media type beside its id, so the
 * prompt and clients can name the file even after it is gone. The chat's use of each file is recorded
 * in chat_file_links in the same transaction as the message. The bytes are read later, by the worker
 * (src/turn/prompt-files.ts).
 */
import type { Transaction } from 'kysely';
import type { Database } from '../db/database';
import { findOwnedChatFileInfos, linkChatFiles } from '../db/repositories/chat-files.repository';
import { ValidationError } from '../errors';
import type { ChatMessagePart } from '../messages/parts';

const fileIdsOf = (parts: readonly ChatMessagePart[]): string[] => [
  ...new Set(parts.flatMap((p) => (p.type === 'file' && p.file_id ? [p.file_id] : []))),
];

/**
 * The parts with each file part completed from the sender's stored file (`file_name`, `media_type`).
 * Throws ValidationError `file_not_found` (400) naming the first `file_id` that is missing or belongs to
 * someone else; the two cases are indistinguishable, as on GET /files/{id}. Reads metadata only.
 */
export async function withOwnedFiles(
  trx: Transaction<Database>,
  senderId: string,
  parts: ChatMessagePart[],
): Promise<ChatMessagePart[]> {
  const ids = fileIdsOf(parts);
  if (ids.length === 0) return parts;
  const found = new Map((await findOwnedChatFileInfos(trx, senderId, ids)).map((f) => [f.id, f]));
  const missing = ids.find((id) => !found.has(id));
  if (missing !== undefined) {
    throw new ValidationError(`File ${missing} not found.`, { file_id: missing }, 'file_not_found');
  }
  return parts.map((p) => {
    if (p.type !== 'file' || !p.file_id) return p;
    const file = found.get(p.file_id)!;
    return { type: 'file', file_id: file.id, file_name: file.name, media_type: file.mimetype };
  });
}

/** Records in chat_file_links that `chatId` uses the files of these parts (run in the message's transaction). */
export async function linkFileParts(
  trx: Transaction<Database>,
  chatId: string,
  parts: readonly ChatMessagePart[],
): Promise<void> {
  await linkChatFiles(trx, chatId, fileIdsOf(parts));
}

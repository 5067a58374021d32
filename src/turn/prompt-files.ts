/**
 * Loads the files a prompt's user messages attach. Stored file parts hold only a file id (only ids ever
 * cross workflow history); the model step reads the bytes here, inside its activity, for one request,
 * and keeps nothing afterwards. Which of them the provider can take is the adapters' decision
 * (src/llm/file-inputs.ts); this module only bounds what one step holds in memory and turns a file that
 * is gone into a note, so a deleted file never fails a turn.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../db/database';
import { findOwnedChatFileInfos, readOwnedChatFileData } from '../db/repositories/chat-files.repository';
import { fileNote } from '../llm/file-inputs';
import type { ChatMessagePart } from '../messages/parts';
import type { PromptMessage } from './prompt';

/**
 * Most file bytes one step reads, newest files first: no provider takes more in one request (OpenAI's 50 MB
 * of images is the largest allowance, see docs/files.md), and it bounds a worker's memory per step.
 */
export const MAX_STEP_FILE_BYTES = 50 * 1024 * 1024;

const isStoredFile = (p: ChatMessagePart): boolean => p.type === 'file' && !!p.file_id && !p.data;

/**
 * `messages` with each stored file part of a user message carrying its bytes (base64 `data`, with the
 * stored `file_name` and `media_type`), read from the chat owner's files. A file that no longer exists
 * becomes a text note, as does one beyond MAX_STEP_FILE_BYTES (older files give way to newer ones).
 * Messages without file parts are returned as they are.
 */
export async function loadPromptFiles(
  db: Kysely<Database>,
  ownerId: string,
  messages: PromptMessage[],
): Promise<PromptMessage[]> {
  const refs = messages.flatMap((m) => (m.role === 'user' ? m.content.filter(isStoredFile) : []));
  if (refs.length === 0) return messages;
  const newestFirst = [...new Set(refs.map((p) => p.file_id!).reverse())];
  const infos = new Map((await findOwnedChatFileInfos(db, ownerId, newestFirst)).map((f) => [f.id, f]));

  const admitted: string[] = [];
  let total = 0;
  for (const id of newestFirst) {
    const size = infos.get(id)?.size;
    if (size === undefined || total + size > MAX_STEP_FILE_BYTES) continue;
    admitted.push(id);
    total += size;
  }
  const bytes = await readOwnedChatFileData(db, ownerId, admitted);
  const base64 = new Map([...bytes].map(([id, data]) => [id, data.toString('base64')]));

  const resolve = (p: ChatMessagePart): ChatMessagePart => {
    if (!isStoredFile(p)) return p;
    const info = infos.get(p.file_id!);
    const name = info?.name ?? p.file_name ?? 'file';
    const mediaType = info?.mimetype ?? p.media_type;
    const data = base64.get(p.file_id!);
    if (data !== undefined && info) {
      return { type: 'file', file_id: info.id, file_name: info.name, media_type: info.mimetype, data };
    }
    // Not admitted: over the step's budget. Admitted but unread: deleted in between.
    const reason =
      info && !admitted.includes(info.id)
        ? 'the conversation holds more file bytes than one step reads, and newer files come first'
        : 'it is no longer stored';
    return { type: 'text', text: fileNote(name, mediaType, reason) };
  };
  return messages.map((m) => (m.role === 'user' ? { ...m, content: m.content.map(resolve) } : m));
}

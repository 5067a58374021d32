/**
 * ChatMessagePart: both the wire type of messages and their persistence format in
 * chat_messages.content (content_version 1). Changing a field is a migration. Also: the NUL-byte
 * escaping PostgreSQL's jsonb needs, and stripping of internal fields before anything is published.
 */
import { z } from 'zod';

export type ChatMessagePartType =
  'text' | 'reasoning' | 'tool-call' | 'tool-result' | 'source' | 'file' | 'file-reference' | 'context-file';

export interface ChatMessagePart {
  type: ChatMessagePartType;
  text?: string;
  /** reasoning: provider signature (Anthropic) or encrypted content (OpenAI); internal. */
  signature?: string;
  tool_call_id?: string;
  tool_name?: string;
  mcp_server_config_id?: string;
  args?: unknown;
  args_delta?: string;
  result?: unknown;
  result_delta?: string;
  is_error?: boolean;
  is_media?: boolean;
  provider_executed?: boolean;
  source_id?: string;
  url?: string;
  title?: string;
  media_type?: string;
  data?: string;
  file_id?: string;
  file_name?: string;
  start_line?: number;
  end_line?: number;
  content?: string;
  context_file_path?: string;
  /** Internal: provider-specific data needed to replay the part (never published). */
  provider_metadata?: Record<string, unknown>;
}

/** User input parts accepted by POST /chats and POST /chats/{id}/messages. */
export const chatInputPartSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text'), text: z.string() }),
  z.strictObject({ type: z.literal('file'), file_id: z.uuid() }),
  z.strictObject({
    type: z.literal('file-reference'),
    file_name: z.string().min(1, 'file_name cannot be empty for file-reference'),
    start_line: z.number().int().min(1).optional(),
    end_line: z.number().int().min(1).optional(),
    content: z.string().optional(),
  }),
]);
export type ChatInputPart = z.infer<typeof chatInputPartSchema>;

/** Removes what clients must never see (signatures, provider metadata, inline bytes of stored files). */
export function stripInternal(part: ChatMessagePart): ChatMessagePart {
  const { signature: _signature, provider_metadata: _metadata, ...rest } = part;
  if (rest.file_id !== undefined) delete rest.data;
  return rest;
}

// jsonb cannot hold U+0000. On write every U+0000 becomes U+E000 U+E001 and an existing U+E000 is
// doubled (U+E000 U+E000), so the mapping is reversible for any input; the reverse runs on read.
const ESC = '\uE000';
const escapeNul = (s: string): string => s.replaceAll(ESC, ESC + ESC).replaceAll('\u0000', ESC + '\uE001');
const unescapeNul = (s: string): string =>
  s.replace(/\uE000([\uE000\uE001])/g, (_m, next: string) => (next === ESC ? ESC : '\u0000'));

function mapStrings(value: unknown, fn: (s: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [fn(k), mapStrings(v, fn)]));
  }
  return value;
}

/** Serialises parts for a jsonb column, escaping NUL bytes. */
export function encodeParts(parts: readonly ChatMessagePart[]): string {
  return JSON.stringify(mapStrings(parts, escapeNul));
}

/** Restores parts read from a jsonb column. */
export function decodeParts(raw: unknown): ChatMessagePart[] {
  return mapStrings(raw, unescapeNul) as ChatMessagePart[];
}

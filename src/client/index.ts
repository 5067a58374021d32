/**
 * The typed chatd client (README "Client"). `api` is an openapi-fetch client typed by schema.d.ts,
 * which `npm run generate:client` generates from the OpenAPI document (GET /api/v1/openapi.json):
 * every route, its parameters, bodies and responses. `streamChat` and `watchChats` read the two SSE
 * streams with reconnects (stream.ts). This folder imports nothing from the server
 * (.dependency-cruiser.cjs `client-is-standalone`), so it works against any chatd over HTTP.
 */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from './schema';
import { ChatdApiError, sseEvents, type SseOptions } from './stream';

export { ChatdApiError, sseEvents, type SseEvent, type SseOptions, type SseRequest } from './stream';
export type { components, operations, paths } from './schema';

type Schemas = components['schemas'];
export type Chat = Schemas['Chat'];
export type ChatMessage = Schemas['ChatMessage'];
export type ChatMessagePart = Schemas['ChatMessagePart'];
export type QueuedMessage = Schemas['QueuedMessage'];
export type ChatStatus = Schemas['ChatStatus'];
export type ToolApproval = Schemas['ToolApproval'];
export type ModelConfig = Schemas['ModelConfig'];
export type User = Schemas['User'];
/** An event of a chat's stream (its `type` says which). */
export type StreamEvent = Schemas['StreamEvent'];
/** The last event of a chat stream the server ended because its token was revoked or expired. */
export type ChatStreamEnd = Schemas['ChatStreamEnd'];
/** An event of the caller's watch stream (its `kind` says which). */
export type WatchEvent = Schemas['WatchEvent'];
export type WatchStreamEnd = Schemas['WatchStreamEnd'];

export interface ChatdClientOptions {
  /** Where chatd listens, e.g. `http://127.0.0.1:8080` (the API is below `/api/v1`). */
  baseUrl: string;
  /** An API token (`chatd_…`). */
  token: string;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

/** Stream options: `signal` ends it, `lastEventId` resumes after an event id (see SseOptions). */
export type StreamOptions = SseOptions & {
  /** Chat stream only: start after this message id instead of sending the whole history. */
  afterMessageId?: number;
};

export interface ChatdClient {
  /** Every route: `api.POST('/chats', { body })`, `api.GET('/chats/{id}', { params: { path: { id } } })`, … */
  api: Client<paths>;
  /**
   * The events of a chat (docs/stream-events.md): a snapshot, then live events, resumed after a
   * dropped connection with Last-Event-ID. Ends after a `stream_end` event, when `signal` aborts,
   * or when the caller stops iterating; rejects with ChatdApiError on an HTTP error (e.g. 404).
   */
  streamChat(chatId: string, options?: StreamOptions): AsyncGenerator<StreamEvent | ChatStreamEnd>;
  /** The caller's chat lifecycle events (live only), reconnecting like `streamChat`. */
  watchChats(options?: SseOptions): AsyncGenerator<WatchEvent | WatchStreamEnd>;
}

/** The statuses in which a chat's turn is over: nothing runs until a new message. */
export const IDLE_STATUSES: readonly ChatStatus[] = ['waiting', 'completed', 'error', 'paused'];

/** The data of an openapi-fetch result, or its error as a ChatdApiError (with the envelope's code). */
export function unwrap<T>(result: { data?: T; error?: unknown; response: Response }): T {
  if (result.error !== undefined || !result.response.ok) {
    throw ChatdApiError.fromBody(result.response.status, result.error);
  }
  return result.data as T;
}

export function createChatdClient(options: ChatdClientOptions): ChatdClient {
  const apiUrl = `${options.baseUrl.replace(/\/+$/, '')}/api/v1`;
  const headers = { Authorization: `Bearer ${options.token}` };
  const api = createClient<paths>({ baseUrl: apiUrl, headers, ...(options.fetch ? { fetch: options.fetch } : {}) });
  const request = (path: string) => ({ url: `${apiUrl}${path}`, headers, fetch: options.fetch });

  async function* parsed<T>(path: string, sse: SseOptions, end: (event: T) => boolean): AsyncGenerator<T> {
    for await (const message of sseEvents(request(path), sse)) {
      const event = JSON.parse(message.data) as T;
      yield event;
      if (end(event)) return;
    }
  }

  return {
    api,
    streamChat(chatId, { afterMessageId, ...sse } = {}) {
      const query = afterMessageId === undefined ? '' : `?after_id=${afterMessageId}`;
      return parsed<StreamEvent | ChatStreamEnd>(
        `/chats/${encodeURIComponent(chatId)}/stream${query}`,
        sse,
        (event) => event.type === 'stream_end',
      );
    },
    watchChats(sse = {}) {
      return parsed<WatchEvent | WatchStreamEnd>('/chats/watch', sse, (event) => event.kind === 'stream_end');
    },
  };
}

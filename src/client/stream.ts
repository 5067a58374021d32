/**
 * Server-Sent Events over fetch for the chatd client: eventsource-parser does the SSE framing, this
 * module the connection. A dropped connection (network error, the server closing the response, or
 * no bytes for `idleTimeoutMs`, while the server sends `: ping` every 15 s) is reopened after the
 * server's `retry` delay with `Last-Event-ID` set to the last event id received, so the chat stream
 * resumes without gaps (docs/stream-events.md). An HTTP error other than 5xx is not retried: it
 * rejects with ChatdApiError. `signal` ends the stream at any point; so does leaving a `for await`.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';

/** A response of the API that was not a success: its status and the error envelope's code and message. */
export class ChatdApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ChatdApiError';
  }

  /** Builds the error from an error envelope (`{error: {code, message, details?}}`) or anything else. */
  static fromBody(status: number, body: unknown): ChatdApiError {
    const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)?.error;
    return typeof error?.code === 'string'
      ? new ChatdApiError(status, error.code, String(error.message ?? error.code), error.details)
      : new ChatdApiError(status, 'http_error', `HTTP ${status}`);
  }
}

/** One SSE event as received: `id` is absent on the watch stream and on `stream_end`. */
export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

export interface SseOptions {
  /** Ends the stream (the iteration just stops; nothing is thrown). */
  signal?: AbortSignal;
  /** Resume after this event id (sent as `Last-Event-ID` on the first request too). */
  lastEventId?: string;
  /** Delay before a reconnect; default: the server's `retry` (1 s). */
  reconnectDelayMs?: number;
  /** Reconnect when no byte arrived for this long (default 45 s: three missed pings). */
  idleTimeoutMs?: number;
  /** Give up (rethrowing the last failure) after this many reconnects without an event in between; default: never. */
  maxReconnects?: number;
  /** Called before each reconnect, with the reason the connection ended. */
  onReconnect?: (info: { attempt: number; lastEventId: string | undefined; reason: unknown }) => void;
}

/** What `sseEvents` needs to open a connection. */
export interface SseRequest {
  url: string;
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

const abortable = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });

/**
 * The events of one SSE endpoint, across reconnects. The generator returns when `signal` aborts or
 * the consumer stops iterating; it throws ChatdApiError for a non-retryable HTTP status, and the last
 * failure once `maxReconnects` is exhausted.
 */
export async function* sseEvents(request: SseRequest, options: SseOptions = {}): AsyncGenerator<SseEvent> {
  const doFetch = request.fetch ?? fetch;
  const outer = options.signal;
  let lastEventId = options.lastEventId;
  let delayMs = options.reconnectDelayMs ?? 1000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
  let failures = 0;

  while (!outer?.aborted) {
    const connection = new AbortController();
    const stop = (): void => connection.abort();
    outer?.addEventListener('abort', stop, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    let idleError: Error | undefined;
    const armIdle = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        idleError = new Error(`no data for ${idleTimeoutMs} ms`);
        connection.abort(idleError);
      }, idleTimeoutMs);
    };
    let reason: unknown = new Error('the server closed the stream');
    try {
      armIdle();
      const response = await doFetch(request.url, {
        headers: {
          ...request.headers,
          Accept: 'text/event-stream',
          ...(lastEventId !== undefined ? { 'Last-Event-ID': lastEventId } : {}),
        },
        signal: connection.signal,
      });
      if (!response.ok) {
        const body: unknown = await response.json().catch(() => undefined);
        const error = ChatdApiError.fromBody(response.status, body);
        if (response.status < 500) throw error;
        reason = error;
      } else if (response.body) {
        const received: EventSourceMessage[] = [];
        const parser = createParser({
          onEvent: (message) => received.push(message),
          onRetry: (ms) => {
            if (options.reconnectDelayMs === undefined) delayMs = ms;
          },
        });
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            armIdle();
            parser.feed(value);
            for (let message = received.shift(); message; message = received.shift()) {
              if (message.id !== undefined) lastEventId = message.id;
              failures = 0;
              yield {
                ...(message.id !== undefined ? { id: message.id } : {}),
                event: message.event ?? 'message',
                data: message.data,
              };
            }
          }
        } finally {
          connection.abort();
          await reader.cancel().catch(() => undefined);
        }
      }
    } catch (error) {
      if (error instanceof ChatdApiError) throw error;
      reason = idleError ?? error;
    } finally {
      clearTimeout(idle);
      outer?.removeEventListener('abort', stop);
      connection.abort();
    }
    if (outer?.aborted) return;
    failures += 1;
    if (options.maxReconnects !== undefined && failures > options.maxReconnects) throw reason;
    options.onReconnect?.({ attempt: failures, lastEventId, reason });
    await abortable(delayMs, outer ?? new AbortController().signal);
  }
}

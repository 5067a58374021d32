/** The chat's queued messages, in order: each can be deleted or sent next (promoted). */
import type { ChatdClient, QueuedMessage } from '../../../src/client';
import { unwrap } from '../../../src/client';
import { describeError } from '../session';

export function QueueView({
  client,
  chatId,
  queue,
  onError,
}: {
  client: ChatdClient;
  chatId: string;
  queue: QueuedMessage[];
  onError: (message: string) => void;
}) {
  if (queue.length === 0) return null;
  const run = (work: Promise<{ data?: unknown; error?: unknown; response: Response }>): void =>
    void work.then(unwrap).catch((err: unknown) => onError(describeError(err)));
  return (
    <section class="queue" aria-label="Queued messages">
      <h2>Queued ({queue.length})</h2>
      <ol>
        {queue.map((item, index) => {
          const text = item.content.map((p) => (p.type === 'text' ? p.text : `[${p.type}]`)).join(' ');
          const params = { params: { path: { id: chatId, queuedId: String(item.id) } } };
          return (
            <li key={item.id} data-queued-id={item.id}>
              <span class="queued-text">{text}</span>
              {index > 0 && (
                <button
                  type="button"
                  aria-label={`Send next: ${text}`}
                  onClick={() => run(client.api.POST('/chats/{id}/queue/{queuedId}/promote', { ...params, body: {} }))}
                >
                  Send next
                </button>
              )}
              <button
                type="button"
                aria-label={`Delete queued: ${text}`}
                onClick={() => run(client.api.DELETE('/chats/{id}/queue/{queuedId}', params))}
              >
                Delete
              </button>
            </li>
          );
        })}
      </ol>
    </section>
  );
}

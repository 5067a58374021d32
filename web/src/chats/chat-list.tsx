/**
 * The caller's chats: pinned first, then newest; status, unread marker and labels on each; pin and
 * archive from the list. The watch stream (GET /chats/watch) keeps it live; after a dropped connection
 * the list is fetched again, since the watch stream has no replay.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { unwrap, type Chat, type ChatdClient, type WatchEvent } from '../../../src/client';
import { href } from '../router';
import { describeError } from '../session';
import { StatusBadge } from './status-badge';

export function ChatList({ client, activeChatId }: { client: ChatdClient; activeChatId: string | null }) {
  const [archived, setArchived] = useState(false);
  const [chats, setChats] = useState<Chat[]>([]);
  const [nextCursor, setNextCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [labelFilter, setLabelFilter] = useState('');

  const load = async (cursor?: string): Promise<void> => {
    try {
      const label = labelFilter.trim() ? [labelFilter.trim()] : undefined;
      const page = unwrap(
        await client.api.GET('/chats', {
          params: { query: { archived: archived ? 'true' : 'false', label, cursor, limit: 50 } },
        }),
      );
      setChats((prior) => (cursor ? [...prior, ...page.chats] : page.chats));
      setNextCursor(page.next_cursor);
      setError(null);
    } catch (err) {
      setError(describeError(err));
    }
  };

  useEffect(() => {
    void load();
  }, [archived, labelFilter]);

  // Live updates: apply what the event carries; a chat not yet in the list is fetched whole.
  useEffect(() => {
    const abort = new AbortController();
    const apply = (event: WatchEvent): void => {
      if (event.kind === 'deleted') return setChats((prior) => prior.filter((c) => c.id !== event.chat.id));
      setChats((prior) => {
        const known = prior.find((c) => c.id === event.chat.id);
        if (!known) {
          if (event.chat.archived === archived) {
            void client.api
              .GET('/chats/{id}', { params: { path: { id: event.chat.id } } })
              .then((r) => r.data && setChats((now) => (now.some((c) => c.id === r.data.id) ? now : [r.data, ...now])));
          }
          return prior;
        }
        if (event.chat.archived !== archived) return prior.filter((c) => c.id !== event.chat.id);
        const { has_unread: unread, ...fields } = event.chat as WatchEvent['chat'] & { has_unread?: boolean };
        return prior.map((c) =>
          c.id === event.chat.id ? { ...c, ...fields, ...(unread === undefined ? {} : { has_unread: unread }) } : c,
        );
      });
    };
    void (async () => {
      try {
        for await (const event of client.watchChats({ signal: abort.signal, onReconnect: () => void load() })) {
          if (event.kind !== 'stream_end') apply(event as WatchEvent);
        }
      } catch (err) {
        if (!abort.signal.aborted) setError(describeError(err));
      }
    })();
    return () => abort.abort();
  }, [archived]);

  // Opening a chat reads it.
  useEffect(() => {
    if (activeChatId) setChats((prior) => prior.map((c) => (c.id === activeChatId ? { ...c, has_unread: false } : c)));
  }, [activeChatId]);

  const ordered = useMemo(() => {
    const pinned = chats.filter((c) => c.pin_order > 0).sort((a, b) => a.pin_order - b.pin_order);
    const rest = chats.filter((c) => c.pin_order === 0).sort((a, b) => b.created_at.localeCompare(a.created_at));
    return [...pinned, ...rest];
  }, [chats]);

  const update = async (chat: Chat, body: { pin_order?: number; archived?: boolean }): Promise<void> => {
    try {
      const updated = unwrap(await client.api.PATCH('/chats/{id}', { params: { path: { id: chat.id } }, body }));
      await load();
      if (body.archived !== undefined) setChats((prior) => prior.filter((c) => c.id !== updated.id));
    } catch (err) {
      setError(describeError(err));
    }
  };

  return (
    <section class="chat-list" aria-label="Chats">
      <div class="chat-list-tools">
        <a class="button primary" href={href({ page: 'new' })}>
          New chat
        </a>
        <label class="inline">
          <input type="checkbox" checked={archived} onChange={(e) => setArchived(e.currentTarget.checked)} /> Archived
        </label>
      </div>
      <label class="sr-only" for="label-filter">
        Filter by label
      </label>
      <input
        id="label-filter"
        type="search"
        placeholder="label:value"
        value={labelFilter}
        onChange={(e) => setLabelFilter(e.currentTarget.value)}
      />
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <ul>
        {ordered.map((chat) => (
          <li key={chat.id} class={chat.id === activeChatId ? 'active' : undefined} data-chat-id={chat.id}>
            <a
              href={href({ page: 'chat', chatId: chat.id })}
              aria-current={chat.id === activeChatId ? 'page' : undefined}
            >
              {chat.parent_chat_id && <span aria-label="sub-agent">↳ </span>}
              <span class="title">{chat.title || 'New chat'}</span>
              {chat.has_unread && chat.id !== activeChatId && (
                <span class="unread" aria-label="unread">
                  ●
                </span>
              )}
              <StatusBadge status={chat.status} />
            </a>
            {Object.keys(chat.labels).length > 0 && (
              <span class="labels">
                {Object.entries(chat.labels).map(([k, v]) => (
                  <span class="chip" key={k}>
                    {k}:{v}
                  </span>
                ))}
              </span>
            )}
            <span class="row-actions">
              <button
                type="button"
                aria-label={chat.pin_order > 0 ? `Unpin ${chat.title}` : `Pin ${chat.title}`}
                aria-pressed={chat.pin_order > 0}
                onClick={() => void update(chat, { pin_order: chat.pin_order > 0 ? 0 : 1 })}
              >
                {chat.pin_order > 0 ? '★' : '☆'}
              </button>
              <button
                type="button"
                aria-label={archived ? `Unarchive ${chat.title}` : `Archive ${chat.title}`}
                onClick={() => void update(chat, { archived: !archived })}
              >
                {archived ? '↺' : '⊟'}
              </button>
            </span>
          </li>
        ))}
      </ul>
      {ordered.length === 0 && !error && <p class="muted">No chats yet.</p>}
      {nextCursor && (
        <button type="button" onClick={() => void load(nextCursor)}>
          More
        </button>
      )}
    </section>
  );
}

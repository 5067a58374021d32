/**
 * One chat, live: its stream (GET /chats/{id}/stream through the client's streamChat, which resumes
 * with Last-Event-ID after a dropped connection or an API restart) folded by transcript.ts; the
 * composer (a message sent during a turn is queued), the queue, interrupt, edit-and-resend of a user
 * message, tool approvals, and the chat's MCP servers.
 */
import { useEffect, useMemo, useReducer, useRef, useState } from 'preact/hooks';
import { IDLE_STATUSES, unwrap, type Chat, type ChatMessage } from '../../../src/client';
import { href } from '../router';
import { describeError, type Session } from '../session';
import { applyEvent, blocksOf, EMPTY_TRANSCRIPT, toolResults } from '../transcript';
import { Approvals } from './approvals';
import { Composer, type InputPart } from './composer';
import { McpPicker, useMcpServers } from './mcp-picker';
import { BlocksView, UsageLine } from './message-view';
import { QueueView } from './queue-view';
import { StatusBadge } from './status-badge';

export function ChatView({ session, chatId }: { session: Session; chatId: string }) {
  const { client } = session;
  const [state, dispatch] = useReducer(applyEvent, EMPTY_TRANSCRIPT);
  const [chat, setChat] = useState<Chat | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [reconnecting, setReconnecting] = useState(false);
  const servers = useMcpServers(client);
  const bottom = useRef<HTMLDivElement>(null);

  useEffect(() => {
    client.api.GET('/chats/{id}', { params: { path: { id: chatId } } }).then(
      (r) => (r.data ? setChat(r.data) : setError(describeError(unwrap(r)))),
      (err: unknown) => setError(describeError(err)),
    );
    const abort = new AbortController();
    void (async () => {
      try {
        const events = client.streamChat(chatId, {
          signal: abort.signal,
          onReconnect: () => setReconnecting(true),
          // Noticed within a few seconds when the API went away without closing the connection.
          idleTimeoutMs: 20_000,
        });
        for await (const event of events) {
          setReconnecting(false);
          dispatch(event);
        }
      } catch (err) {
        if (!abort.signal.aborted) setError(describeError(err));
      }
    })();
    return () => abort.abort();
  }, [chatId]);

  // Waiting approvals are not part of the stream's snapshot: list them when the chat needs action.
  useEffect(() => {
    if (state.status !== 'requires_action') return;
    void client.api.GET('/chats/{id}/tool-approvals', { params: { path: { id: chatId } } }).then((r) => {
      for (const approval of r.data?.approvals ?? []) {
        if (approval.decision === null)
          dispatch({ type: 'action_required', chat_id: chatId, approval: { ...approval, args: undefined } });
      }
    });
  }, [state.status]);

  const newest = state.messages.at(-1)?.id;
  useEffect(() => {
    if (newest !== undefined && document.visibilityState === 'visible') {
      void client.api.POST('/chats/{id}/read', { params: { path: { id: chatId } }, body: { message_id: newest } });
    }
    bottom.current?.scrollIntoView({ block: 'end' });
  }, [newest, state.partial.length]);

  const title = state.title ?? chat?.title ?? '';
  const status = state.status ?? chat?.status ?? null;
  const busy = status !== null && !IDLE_STATUSES.includes(status);
  const results = useMemo(() => toolResults(state), [state.messages, state.partialResults]);
  const visible = state.messages.filter((m) => m.role === 'user' || m.role === 'assistant');
  const lastModel = [...state.messages].reverse().find((m) => m.model_config_id)?.model_config_id;

  const act = (work: () => Promise<unknown>) => () =>
    void work().then(
      () => setError(null),
      (err: unknown) => setError(describeError(err)),
    );
  const path = { params: { path: { id: chatId } } };

  return (
    <section class="chat-view" aria-labelledby="chat-title">
      <header class="chat-header">
        <h1 id="chat-title">{title || 'New chat'}</h1>
        <StatusBadge status={status} />
        {chat?.parent_chat_id && <a href={href({ page: 'chat', chatId: chat.parent_chat_id })}>parent chat</a>}
        {busy && (
          <button
            type="button"
            class="danger"
            onClick={act(async () => unwrap(await client.api.POST('/chats/{id}/interrupt', path)))}
          >
            Interrupt
          </button>
        )}
      </header>
      {reconnecting && (
        <p role="status" class="banner">
          Connection lost; reconnecting…
        </p>
      )}
      {state.ended && (
        <p role="alert" class="banner error">
          The stream ended: {state.ended}. Sign in again.
        </p>
      )}
      {error && (
        <p role="alert" class="error">
          {error}
        </p>
      )}
      <ol class="messages" aria-label="Messages">
        {visible.map((message) => (
          <MessageItem
            key={message.id}
            message={message}
            session={session}
            blocks={blocksOf(message.content, results)}
            onEdit={(content) =>
              client.api
                .PATCH('/chats/{id}/messages/{messageId}', {
                  params: { path: { id: chatId, messageId: String(message.id) } },
                  body: { content },
                })
                .then(unwrap)
            }
          />
        ))}
        {state.partial.length > 0 && (
          <li class="message assistant streaming" aria-busy="true">
            <BlocksView blocks={blocksOf(state.partial, results)} client={client} />
          </li>
        )}
      </ol>
      {state.slotPosition !== null && (
        <p role="status" class="notice">
          Waiting for a free turn slot (position {state.slotPosition}).
        </p>
      )}
      {state.retry && (
        <p role="status" class="notice retry">
          Retrying{state.retry.model ? ` on ${state.retry.model}` : ''} (attempt {state.retry.attempt}):{' '}
          {state.retry.error.message}
        </p>
      )}
      {state.error && status === 'error' && (
        <p role="alert" class="notice error">
          The turn failed ({state.error.kind}): {state.error.message}
        </p>
      )}
      <Approvals
        client={client}
        chatId={chatId}
        approvals={state.approvals.map((a) =>
          a.args === undefined ? { ...a, args: callArgs(state.messages, a.call_id) } : a,
        )}
        onError={setError}
      />
      <div ref={bottom} />
      <QueueView client={client} chatId={chatId} queue={state.queue} onError={setError} />
      <Composer
        client={client}
        modelConfigId={lastModel ?? chat?.last_model_config_id}
        sendLabel={busy ? 'Queue' : 'Send'}
        placeholder={busy ? 'Queue a follow-up…' : 'Reply…'}
        autoFocus
        onSend={async ({ content, modelConfigId }) => {
          unwrap(
            await client.api.POST('/chats/{id}/messages', {
              ...path,
              body: { content, ...(modelConfigId ? { model_config_id: modelConfigId } : {}) },
            }),
          );
        }}
      />
      {chat && servers.length > 0 && (
        <details class="options">
          <summary>Chat settings</summary>
          <McpPicker
            servers={servers}
            selected={chat.mcp_server_ids}
            onChange={(ids) =>
              act(async () =>
                setChat(unwrap(await client.api.PATCH('/chats/{id}', { ...path, body: { mcp_server_ids: ids } }))),
              )()
            }
          />
        </details>
      )}
    </section>
  );
}

/** The arguments of a stored tool call (a listed approval does not carry them). */
function callArgs(messages: ChatMessage[], callId: string): unknown {
  for (const message of messages) {
    const call = message.content.find((p) => p.type === 'tool-call' && p.tool_call_id === callId);
    if (call) return call.args;
  }
  return undefined;
}

function MessageItem({
  message,
  session,
  blocks,
  onEdit,
}: {
  message: ChatMessage;
  session: Session;
  blocks: ReturnType<typeof blocksOf>;
  onEdit: (content: InputPart[]) => Promise<unknown>;
}) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const original = message.content
    .filter((p) => p.type === 'text')
    .map((p) => p.text ?? '')
    .join('\n');
  const save = async (): Promise<void> => {
    const files = message.content.flatMap((p) =>
      p.type === 'file' && p.file_id ? [{ type: 'file' as const, file_id: p.file_id }] : [],
    );
    try {
      await onEdit([...files, { type: 'text', text }]);
      setEditing(false);
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <li class={`message ${message.role}`} data-message-id={message.id}>
      <span class="sr-only">{message.role === 'user' ? 'You:' : 'Agent:'}</span>
      {editing ? (
        <form
          class="edit"
          onSubmit={(e) => {
            e.preventDefault();
            void save();
          }}
        >
          <label for={`edit-${message.id}`}>New text</label>
          <textarea id={`edit-${message.id}`} rows={3} value={text} onInput={(e) => setText(e.currentTarget.value)} />
          <div class="composer-bar">
            <button type="submit" class="primary">
              Save and resend
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
          {error && (
            <p role="alert" class="error">
              {error}
            </p>
          )}
        </form>
      ) : (
        <BlocksView blocks={blocks} client={session.client} />
      )}
      {message.role === 'assistant' && <UsageLine message={message} />}
      {message.role === 'user' && !editing && (
        <button
          type="button"
          class="link"
          aria-label="Edit message"
          onClick={() => (setText(original), setEditing(true))}
        >
          Edit
        </button>
      )}
    </li>
  );
}

/** A new chat: its first message, model, MCP servers and labels; then the chat view. */
import { useEffect, useState } from 'preact/hooks';
import { unwrap } from '../../../src/client';
import { navigate } from '../router';
import type { Session } from '../session';
import { Composer } from './composer';
import { defaultMcpSelection, McpPicker, useMcpServers } from './mcp-picker';

/** `a:b, c:d` → `{a: 'b', c: 'd'}`; entries without a colon are ignored. */
export function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const entry of text.split(',')) {
    const at = entry.indexOf(':');
    if (at > 0) labels[entry.slice(0, at).trim()] = entry.slice(at + 1).trim();
  }
  return labels;
}

export function NewChat({ session }: { session: Session }) {
  const servers = useMcpServers(session.client);
  const [mcp, setMcp] = useState<string[] | null>(null);
  const [labels, setLabels] = useState('');
  useEffect(() => {
    if (mcp === null && servers.length) setMcp(defaultMcpSelection(servers));
  }, [servers]);

  return (
    <section class="new-chat" aria-labelledby="new-chat-title">
      <h1 id="new-chat-title">New chat</h1>
      <p class="muted">Ask the agent anything; it works in a sandboxed workspace and can call tools.</p>
      <Composer
        client={session.client}
        sendLabel="Start chat"
        placeholder="What should the agent do?"
        autoFocus
        onSend={async ({ content, modelConfigId }) => {
          const chat = unwrap(
            await session.client.api.POST('/chats', {
              body: {
                content,
                ...(modelConfigId ? { model_config_id: modelConfigId } : {}),
                ...(mcp ? { mcp_server_ids: mcp } : {}),
                labels: parseLabels(labels),
              },
            }),
          );
          navigate({ page: 'chat', chatId: chat.id });
        }}
      />
      <details class="options">
        <summary>Options</summary>
        <McpPicker servers={servers} selected={mcp ?? []} onChange={setMcp} />
        <label for="labels">Labels</label>
        <input
          id="labels"
          placeholder="team:infra, ticket:42"
          value={labels}
          onInput={(e) => setLabels(e.currentTarget.value)}
        />
      </details>
    </section>
  );
}

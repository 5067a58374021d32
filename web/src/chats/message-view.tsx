/**
 * One message or the streaming partial: text, reasoning, tool calls with their arguments and
 * results (a sub-agent call links to the sub-agent's chat), images, citations, and for an assistant
 * message its usage and cost. Everything the model wrote is rendered as text, never as HTML.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ChatdClient, ChatMessage } from '../../../src/client';
import { href } from '../router';
import { subagentChatId, type Block, type ToolCallView } from '../transcript';

export function BlocksView({ blocks, client }: { blocks: Block[]; client: ChatdClient }) {
  return (
    <>
      {blocks.map((block, i) => {
        switch (block.kind) {
          case 'text':
            return (
              <div class="text" key={i}>
                {block.text}
              </div>
            );
          case 'reasoning':
            return (
              <details class="reasoning" key={i}>
                <summary>Reasoning</summary>
                <div class="text">{block.text}</div>
              </details>
            );
          case 'tool':
            return <ToolCall key={block.call.id || i} call={block.call} />;
          case 'file':
            return <StoredImage key={i} client={client} fileId={block.fileId} name={block.name} />;
          case 'source':
            return (
              <p class="source" key={i}>
                Source:{' '}
                {/^https?:\/\//i.test(block.url) ? (
                  <a href={block.url} rel="noopener noreferrer nofollow" target="_blank">
                    {block.title}
                  </a>
                ) : (
                  block.title
                )}
              </p>
            );
        }
      })}
    </>
  );
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

function ToolCall({ call }: { call: ToolCallView }) {
  const subagent = subagentChatId(call);
  const state = !call.complete ? 'calling' : call.result ? (call.result.isError ? 'failed' : 'done') : 'running';
  return (
    <details class={`tool-call tool-${state}`} open={state !== 'done'} data-tool={call.name}>
      <summary>
        <span class="tool-name">{call.name}</span> <span class="muted">{state}</span>
        {subagent && (
          <>
            {' '}
            <a href={href({ page: 'chat', chatId: subagent })}>open sub-agent</a>
          </>
        )}
      </summary>
      <div class="tool-section">
        <span class="muted">Arguments</span>
        <pre class="tool-args">{call.argsText}</pre>
      </div>
      {call.result && (
        <div class="tool-section">
          <span class="muted">{call.result.isError ? 'Error' : 'Result'}</span>
          <pre class="tool-result">{show(call.result.value)}</pre>
        </div>
      )}
    </details>
  );
}

/** A stored image: GET /files/{id} needs the token, so it is fetched and shown from a blob URL. */
function StoredImage({ client, fileId, name }: { client: ChatdClient; fileId: string; name: string }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    let objectUrl: string | null = null;
    void client.api
      .GET('/files/{id}', { params: { path: { id: fileId } }, parseAs: 'blob' })
      .then((r) => r.data && setUrl((objectUrl = URL.createObjectURL(r.data as Blob))));
    return () => {
      if (objectUrl) URL.revokeObjectURL(objectUrl);
    };
  }, [fileId]);
  return url ? <img class="attachment" src={url} alt={name} /> : <span class="muted">[{name}]</span>;
}

const number = new Intl.NumberFormat();

/** Tokens, cost and time of an assistant message, as stored. */
export function UsageLine({ message }: { message: ChatMessage }) {
  const usage = message.usage;
  if (!usage) return null;
  const parts: string[] = [];
  if (usage.input_tokens !== null) parts.push(`${number.format(usage.input_tokens)} in`);
  if (usage.output_tokens !== null) parts.push(`${number.format(usage.output_tokens)} out`);
  if (usage.reasoning_tokens) parts.push(`${number.format(usage.reasoning_tokens)} reasoning`);
  if (usage.cache_read_tokens) parts.push(`${number.format(usage.cache_read_tokens)} cached`);
  const cost = message.total_cost_micros;
  if (cost !== null && cost !== undefined) parts.push(`$${(cost / 1e6).toFixed(cost < 10_000 ? 6 : 4)}`);
  if (message.runtime_ms) parts.push(`${(message.runtime_ms / 1000).toFixed(1)} s`);
  return <p class="usage muted">{parts.join(' · ')}</p>;
}

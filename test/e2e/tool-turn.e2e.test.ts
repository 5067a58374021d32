/**
 * A turn with tools, over HTTP and SSE on real Temporal and PostgreSQL: the model creates a
 * workspace, runs a command in it, and answers. Tool arguments and outputs travel through
 * PostgreSQL and the stream, never through workflow history; results are persisted in call order.
 */
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { startTestApp, turnRequests, type TestApp } from '../support/app';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { text, toolCalls } from '../../src/dev/fake-llm/script';
import { SseClient } from '../support/sse';
import { captureHistory } from '../support/temporal';

describe('a turn with tool calls', () => {
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
  });
  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  it('creates a workspace, runs commands concurrently and answers', async () => {
    fake.enqueue(
      toolCalls([{ id: 'call_ws', name: 'create_workspace', args: { template_id: 'empty' } }]),
      toolCalls([
        { id: 'call_a', name: 'execute', args: { command: 'sleep 0.3; echo first > a.txt; cat a.txt' } },
        { id: 'call_b', name: 'execute', args: { command: 'echo second' } },
        { id: 'call_bad', name: 'execute', args: '{"command": "ls' },
      ]),
      text('Both commands ran.'),
    );
    const created = await app.request('POST', '/chats', { content: [{ type: 'text', text: 'Run two commands' }] });
    expect(created.status).toBe(201);
    const chatId: string = created.body.id;
    const stream = SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);
    await stream.waitFor((e) => e.event === 'status' && e.data.status === 'waiting', 60_000);
    stream.close();

    const { body } = await app.request('GET', `/chats/${chatId}/messages`);
    const roles = body.messages.map((m: { role: string }) => m.role);
    expect(roles).toEqual(['user', 'assistant', 'tool', 'assistant', 'tool', 'tool', 'tool', 'assistant']);
    const results = body.messages
      .filter((m: { role: string }) => m.role === 'tool')
      .map((m: { content: Array<{ tool_call_id: string; result: any; is_error: boolean }> }) => m.content[0]!);
    expect(results.map((r: { tool_call_id: string }) => r.tool_call_id)).toEqual([
      'call_ws',
      'call_a',
      'call_b',
      'call_bad',
    ]);
    expect(results[0].is_error).toBe(false);
    expect(JSON.stringify(results[1].result)).toContain('first');
    expect(JSON.stringify(results[2].result)).toContain('second');
    // Malformed JSON arguments become an error result for the model, not a failed turn.
    expect(results[3].is_error).toBe(true);

    // The tool results reached the model in the next request, in call order.
    const third = JSON.stringify(turnRequests(fake)[2]!.body);
    expect(third.indexOf('first')).toBeGreaterThan(-1);
    expect(third.indexOf('call_a')).toBeLessThan(third.indexOf('call_b'));

    // Tool results were streamed as message_part events while the step ran.
    expect(stream.events.some((e) => e.event === 'message_part' && e.data.role === 'tool')).toBe(true);

    const handle = app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`);
    expect(await handle.result()).toEqual({ outcome: 'completed', steps: 3 });
    // Only ids and summaries in history: the command output never appears there.
    expect(historyToJSON(await handle.fetchHistory())).not.toContain('first\\n');
    await captureHistory(handle, 'chat-workflow.tools');
  });
});

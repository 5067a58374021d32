/**
 * Automatic compaction end to end: a step whose context passes the model config's threshold is
 * followed by a summary call; the summary is stored as compressed messages, the user sees the
 * "chat_summarized" tool call and result, and the next step starts from the summary instead of the
 * full history. Compaction on the final step lets the model continue.
 */
import { SUMMARY_PREFIX, SUMMARY_PROMPT } from '../../src/turn/compaction';
import { startTestApp, turnRequests, type TestApp } from '../support/app';
import { text } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { SseClient } from '../support/sse';
import { captureHistory } from '../support/temporal';

describe('automatic compaction', () => {
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
    const patched = await app.request('PATCH', `/model-configs/${app.modelConfigId}`, {
      context_limit: 1000,
      compression_threshold: 50,
    });
    expect(patched.status).toBe(200);
  });
  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  it('summarises an over-threshold context and continues from the summary', async () => {
    fake.enqueue(
      text('A long answer that fills the context.', { usage: { inputTokens: 900, outputTokens: 20 } }),
      text('SUMMARY: the user wants a report; half of it is written.'),
      text('Continuing from the summary.', { usage: { inputTokens: 100, outputTokens: 10 } }),
    );
    const created = await app.request('POST', '/chats', { content: [{ type: 'text', text: 'Write the report' }] });
    const chatId: string = created.body.id;
    const stream = SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);
    await stream.waitFor(
      (e) => e.event === 'message' && JSON.stringify(e.data.message.content).includes('Continuing from the summary'),
      60_000,
    );
    stream.close();

    const [first, summaryCall, next] = turnRequests(fake);
    expect(first).toBeDefined();
    // The summary call may not run tools (tool choice none) and ends with the summary prompt.
    expect((summaryCall!.body as { tool_choice?: unknown }).tool_choice).toBe('none');
    expect(JSON.stringify(summaryCall!.body)).toContain(SUMMARY_PROMPT.slice(0, 40));
    // The next step starts from the summary: the original question is no longer sent.
    const nextBody = JSON.stringify(next!.body);
    expect(nextBody).toContain('SUMMARY: the user wants a report');
    expect(nextBody).toContain(SUMMARY_PREFIX.slice(0, 40));
    expect(nextBody).not.toContain('Write the report');

    const { body } = await app.request('GET', `/chats/${chatId}/messages`);
    const visible = body.messages.map((m: { role: string; content: Array<{ type: string; tool_name?: string }> }) =>
      m.content[0]?.tool_name ? `${m.role}:${m.content[0].tool_name}` : m.role,
    );
    expect(visible).toEqual(['user', 'assistant', 'assistant:chat_summarized', 'tool:chat_summarized', 'assistant']);
    const rows = await app.deps.db
      .selectFrom('chat_messages')
      .selectAll()
      .where('chat_id', '=', chatId)
      .where('compressed', '=', true)
      .execute();
    expect(rows.map((r) => r.visibility).sort()).toEqual(['both', 'model', 'user']);

    const handle = app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`);
    expect(await handle.result()).toEqual({ outcome: 'completed', steps: 2 });
    await captureHistory(handle, 'chat-workflow.compaction');
  });
});

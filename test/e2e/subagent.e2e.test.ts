/**
 * Sub-agents end to end: the model spawns a sub-agent (a child chat whose turn runs as a child
 * workflow), waits for it, and answers with its result. wait_agent wakes on the child's
 * "finished" signal, not by polling. The fake provider answers by conversation content, since
 * parent and child requests interleave.
 */
import { startTestApp, type TestApp } from '../support/app';
import type { FakeStep } from '../../src/dev/fake-llm/script';
import { text, toolCalls } from '../../src/dev/fake-llm/script';
import { FakeLlmServer, type RecordedRequest } from '../../src/dev/fake-llm/server';
import { SseClient } from '../support/sse';
import { captureHistory } from '../support/temporal';

const SUBTASK = 'SUBTASK: count to three';

/** Parent: spawn → wait → answer. Child: answer the subtask. */
function respond(req: RecordedRequest): FakeStep {
  const body = JSON.stringify(req.body);
  const toolsOffered = body.includes('spawn_agent');
  if (body.includes(SUBTASK) && !toolsOffered) return text('one two three');
  const child = /chat_id\\?"\s*:\s*\\?"([0-9a-f-]{36})/.exec(body)?.[1];
  if (!child) return toolCalls([{ id: 'call_spawn', name: 'spawn_agent', args: { prompt: SUBTASK } }]);
  if (!body.includes('one two three'))
    return toolCalls([{ id: 'call_wait', name: 'wait_agent', args: { chat_id: child } }]);
  return text('The sub-agent counted: one two three.');
}

describe('sub-agents', () => {
  let fake: FakeLlmServer;
  let app: TestApp;

  beforeAll(async () => {
    fake = await FakeLlmServer.start({ fallback: respond });
    app = await startTestApp({ fake });
  });
  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  it('spawns a child chat as a child workflow, waits for it and uses its answer', async () => {
    const created = await app.request('POST', '/chats', { content: [{ type: 'text', text: 'Delegate the counting' }] });
    const parentId: string = created.body.id;
    const stream = SseClient.open(`${app.url}/api/v1/chats/${parentId}/stream`, app.token);
    await stream.waitFor(
      (e) =>
        e.event === 'message' &&
        e.data.message.role === 'assistant' &&
        JSON.stringify(e.data.message).includes('counted'),
      60_000,
    );
    stream.close();

    const child = await app.deps.db
      .selectFrom('chats')
      .selectAll()
      .where('parent_chat_id', '=', parentId)
      .executeTakeFirstOrThrow();
    expect(child.root_chat_id).toBe(parentId);
    expect(child.owner_id).toBe(created.body.owner_id);

    const { body } = await app.request('GET', `/chats/${parentId}/messages`);
    const toolResults = body.messages.filter((m: { role: string }) => m.role === 'tool').map((m: any) => m.content[0]);
    expect(toolResults.map((r: { tool_name: string }) => r.tool_name)).toEqual(['spawn_agent', 'wait_agent']);
    expect(toolResults[0].result).toMatchObject({ chat_id: child.id, status: 'started' });
    expect(toolResults[1].result).toMatchObject({ chat_id: child.id, status: 'waiting', answer: 'one two three' });

    // The child's turn is a child workflow of the parent's turn, findable by its own id.
    const childRun = await app.deps.temporal.client.workflow.getHandle(`chat-${child.id}`).describe();
    expect(childRun.parentExecution?.workflowId).toBe(`chat-${parentId}`);

    // Sub-agents are offered neither sub-agent nor provisioning tools (depth 1).
    const childRequest = fake.requests.find(
      (r) => JSON.stringify(r.body).includes(SUBTASK) && !JSON.stringify(r.body).includes('spawn_agent'),
    );
    expect(childRequest).toBeDefined();
    expect(JSON.stringify(childRequest!.body)).not.toContain('create_workspace');

    const parentRun = app.deps.temporal.client.workflow.getHandle(`chat-${parentId}`);
    expect((await parentRun.result()).outcome).toBe('completed');
    await captureHistory(parentRun, 'chat-workflow.subagent');
  });

  it('refuses to wait for a chat that is not its own sub-agent', async () => {
    // Another chat's sub-agent (from the test above): real, same owner, but not a descendant.
    const stranger = await app.deps.db
      .selectFrom('chats')
      .select('id')
      .where('parent_chat_id', 'is not', null)
      .executeTakeFirstOrThrow();
    fake.enqueue(
      toolCalls([{ id: 'call_w', name: 'wait_agent', args: { chat_id: stranger.id } }]),
      text('Could not wait.'),
    );
    const created = await app.request('POST', '/chats', { content: [{ type: 'text', text: 'wait for a stranger' }] });
    const stream = SseClient.open(`${app.url}/api/v1/chats/${created.body.id}/stream`, app.token);
    await stream.waitFor((e) => e.event === 'status' && e.data.status === 'waiting', 60_000);
    stream.close();
    const { body } = await app.request('GET', `/chats/${created.body.id}/messages`);
    const result = body.messages.find((m: { role: string }) => m.role === 'tool')?.content[0];
    expect(result).toMatchObject({ tool_name: 'wait_agent', is_error: true });
  });
});

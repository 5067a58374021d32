/**
 * Human approval of tool calls end to end (docs/tool-approval.md), over HTTP and SSE on real PostgreSQL
 * and Temporal with the fake LLM: the admin's policy and a chat's own ask list decide which calls wait;
 * a waiting call shows as `action_required` and `requires_action` (on the chat, the watch feed and, for a
 * sub-agent's call, the root chat); the user's decision runs the call, answers it with the reason of a
 * denial or approves the tool for the rest of the chat; an interrupt, an archive or the expiry denies
 * what still waits. Bad decisions get a 4xx and change nothing. Each test has its own chat.
 */
import { randomUUID } from 'node:crypto';
import { startTestApp, textBody, waitForChat, type TestApp } from '../support/app';
import { FakeLlmServer, type RecordedRequest } from '../../src/dev/fake-llm/server';
import { text, toolCalls, type FakeStep } from '../../src/dev/fake-llm/script';
import { isStatus, SseClient, type SseEvent } from '../support/sse';
import { captureHistory } from '../support/temporal';
import { createTestUser, type TestUser } from '../support/users';
import { argsSha256 } from '../../src/turn/tool-approvals';

/** The admin's policy of these tests: `execute` waits, every other built-in tool runs at once. */
const EXECUTE_ASKS = { default: 'auto', tools: { execute: 'ask' } } as const;
const DEFAULT_POLICY = { default: 'auto', tools: {} } as const;

/** A command whose output (`42-ran`) is not in its own text, so the model's request shows whether it ran. */
const MARKER_COMMAND = 'echo $((6*7))-ran > ran.txt; cat ran.txt';
const MARKER_OUTPUT = '42-ran';

const DAY_MS = 86_400_000;

describe('tool approval', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let member: TestUser;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
    member = await createTestUser(app);
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  beforeEach(async () => {
    fake.reset();
    expect((await app.request('PUT', '/admin/tool-approval-policy', EXECUTE_ASKS)).status).toBe(200);
  });

  afterEach(async () => {
    // Each test file has its own database, but no test here may lean on another's policy either.
    await app.request('PUT', '/admin/tool-approval-policy', DEFAULT_POLICY);
    fake.respondTo('fake-model', () => undefined);
  });

  const stream = (chatId: string) => SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);

  async function createChat(t: string, extra: Record<string, unknown> = {}): Promise<string> {
    const res = await app.request('POST', '/chats', { ...textBody(t), ...extra });
    expect(res.status).toBe(201);
    return res.body.id;
  }

  const decide = (chatId: string, callId: string, body: unknown, token?: string) =>
    app.request('POST', `/chats/${chatId}/tool-calls/${callId}/decision`, body, token);

  async function approvalsOf(chatId: string, pending = false): Promise<any[]> {
    const res = await app.request('GET', `/chats/${chatId}/tool-approvals${pending ? '?pending=true' : ''}`);
    expect(res.status).toBe(200);
    return res.body.approvals;
  }

  const actionRequired = (callId: string) => (e: SseEvent) =>
    e.event === 'action_required' && e.data.approval.call_id === callId;
  const actionDecided = (callId: string) => (e: SseEvent) =>
    e.event === 'action_decided' && e.data.approval.call_id === callId;
  /** The `message` event of the tool result of call `callId`. */
  const toolResult = (callId: string) => (e: SseEvent) =>
    e.event === 'message' && e.data.message.role === 'tool' && e.data.message.content[0]?.tool_call_id === callId;

  /** The turn's model requests of one chat (side calls such as titles left out). */
  const requestsOf = (chatId: string) =>
    fake.requests.filter((r) => r.headers['x-chatd-chat-id'] === chatId && r.model === 'fake-model');

  /** The tool results of a chat, by call id. */
  async function resultsOf(chatId: string): Promise<Map<string, { result: any; is_error: boolean }>> {
    const { body } = await app.request('GET', `/chats/${chatId}/messages`);
    return new Map(
      body.messages
        .filter((m: any) => m.role === 'tool')
        .map((m: any) => [m.content[0].tool_call_id, { result: m.content[0].result, is_error: m.content[0].is_error }]),
    );
  }

  const run = (chatId: string) => app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`);

  describe('the admin policy', () => {
    it('is admin-only and accepts only built-in tool names, changing nothing otherwise', async () => {
      expect((await app.request('GET', '/admin/tool-approval-policy')).body).toEqual(EXECUTE_ASKS);
      const asMember = await app.request('PUT', '/admin/tool-approval-policy', DEFAULT_POLICY, member.token);
      expect(asMember.status).toBe(403);
      expect((await app.request('GET', '/admin/tool-approval-policy', undefined, member.token)).status).toBe(403);
      const unknown = await app.request('PUT', '/admin/tool-approval-policy', {
        default: 'auto',
        tools: { execute: 'auto', no_such_tool: 'ask' },
      });
      expect(unknown.status).toBe(400);
      // Sub-agent tools never wait, so the policy may not name them either.
      const subagent = await app.request('PUT', '/admin/tool-approval-policy', {
        default: 'auto',
        tools: { spawn_agent: 'ask' },
      });
      expect(subagent.status).toBe(400);
      const badPolicy = await app.request('PUT', '/admin/tool-approval-policy', { default: 'sometimes', tools: {} });
      expect(badPolicy.status).toBe(400);
      expect((await app.request('GET', '/admin/tool-approval-policy')).body).toEqual(EXECUTE_ASKS);
    });
  });

  it('holds an `ask` call for the user while the `auto` calls run, and runs it once approved', async () => {
    const watch = SseClient.open(`${app.url}/api/v1/chats/watch`, app.token);
    await watch.waitForComments(1);
    fake.enqueue(
      toolCalls([{ id: 'call_ws', name: 'create_workspace', args: { template_id: 'empty' } }]),
      toolCalls([
        { id: 'call_exec', name: 'execute', args: { command: MARKER_COMMAND } },
        { id: 'call_list', name: 'list_templates', args: {} },
      ]),
      text('The command ran.'),
    );
    const chatId = await createChat('Run a command');
    const events = stream(chatId);

    const required = await events.waitFor(actionRequired('call_exec'));
    const requestedAt = Date.now();
    expect(required.data).toMatchObject({
      type: 'action_required',
      chat_id: chatId,
      approval: {
        chat_id: chatId,
        root_chat_id: chatId,
        call_id: 'call_exec',
        tool_name: 'execute',
        args: { command: MARKER_COMMAND },
        args_sha256: argsSha256({ command: MARKER_COMMAND }),
        step: 1,
        decision: null,
        decided_by: null,
      },
    });
    expect(typeof required.data.approval.message_id).toBe('number');
    const expiresIn = Date.parse(required.data.approval.expires_at) - requestedAt;
    expect(Math.abs(expiresIn - DAY_MS)).toBeLessThan(60_000);
    // Only the call that asks waits; the workspace and the template list did not.
    expect(events.events.filter((e) => e.event === 'action_required')).toHaveLength(1);
    await events.waitFor(isStatus('requires_action'));
    await watch.waitFor(
      (e) => e.event === 'status_change' && e.data.chat.id === chatId && e.data.chat.status === 'requires_action',
    );
    expect((await app.request('GET', `/chats/${chatId}`)).body.status).toBe('requires_action');

    // The auto call of the same step ran while the other waits.
    const listed = await events.waitFor(toolResult('call_list'));
    expect(listed.data.message.content[0].is_error).toBe(false);
    const pending = await approvalsOf(chatId, true);
    expect(pending.map((a) => a.call_id)).toEqual(['call_exec']);
    expect(requestsOf(chatId)).toHaveLength(2);
    expect((await resultsOf(chatId)).has('call_exec')).toBe(false);

    const decided = await decide(chatId, 'call_exec', { decision: 'approve' });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({
      chat_id: chatId,
      call_id: 'call_exec',
      tool_name: 'execute',
      decision: 'approved',
      reason: null,
      decided_by: (await app.request('GET', '/users/me')).body.id,
    });
    expect(Date.parse(decided.body.decided_at)).toBeGreaterThanOrEqual(requestedAt - 5_000);

    const decidedEvent = await events.waitFor(actionDecided('call_exec'));
    expect(decidedEvent.data.approval).toMatchObject({ decision: 'approved', decided_by: decided.body.decided_by });
    const ran = await events.waitFor(toolResult('call_exec'));
    expect(JSON.stringify(ran.data.message.content[0].result)).toContain(MARKER_OUTPUT);
    const waiting = await events.waitFor(isStatus('waiting'));
    // requires_action → running → waiting, in that order.
    const statuses = events.events
      .slice(0, events.events.indexOf(waiting) + 1)
      .filter((e) => e.event === 'status')
      .map((e) => e.data.status);
    expect(statuses.slice(statuses.indexOf('requires_action'))).toEqual(['requires_action', 'running', 'waiting']);
    events.close();
    watch.close();

    // The command's output reached the model's next request.
    const requests = requestsOf(chatId);
    expect(requests).toHaveLength(3);
    expect(JSON.stringify(requests[1]!.body)).not.toContain(MARKER_OUTPUT);
    expect(JSON.stringify(requests[2]!.body)).toContain(MARKER_OUTPUT);

    const [listedApproval] = await approvalsOf(chatId);
    expect(await approvalsOf(chatId, true)).toEqual([]);
    expect(listedApproval).toMatchObject({
      call_id: 'call_exec',
      decision: 'approved',
      decided_by: decided.body.decided_by,
      args_sha256: argsSha256({ command: MARKER_COMMAND }),
    });
    expect(listedApproval.args_sha256).toMatch(/^[0-9a-f]{64}$/);
    const page = (await app.request('GET', `/chats/${chatId}/messages`)).body;
    expect(page.tool_approvals).toEqual([listedApproval]);
    expect(page.messages.find((m: any) => m.id === listedApproval.message_id)?.role).toBe('assistant');

    const handle = run(chatId);
    expect(await handle.result()).toEqual({ outcome: 'completed', steps: 3 });
    fake.assertAllConsumed();
    await captureHistory(handle, 'chat-workflow.approval');
  });

  it('refuses bad, unknown, foreign and repeated decisions, changing nothing', async () => {
    fake.enqueue(toolCalls([{ id: 'call_exec', name: 'execute', args: { command: 'echo hi' } }]), text('Done.'));
    const chatId = await createChat('Run something');
    const events = stream(chatId);
    await events.waitFor(actionRequired('call_exec'));

    const maybe = await decide(chatId, 'call_exec', { decision: 'maybe' });
    expect(maybe.status).toBe(400);
    const reasoned = await decide(chatId, 'call_exec', { decision: 'approve', reason: 'looks fine' });
    expect(reasoned.status).toBe(400);
    const extra = await decide(chatId, 'call_exec', { decision: 'approve', note: 'x' });
    expect(extra.status).toBe(400);
    const unknown = await decide(chatId, 'call_nope', { decision: 'approve' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('tool_call_not_found');
    const foreign = await decide(chatId, 'call_exec', { decision: 'approve' }, member.token);
    expect(foreign.status).toBe(404);
    const foreignList = await app.request('GET', `/chats/${chatId}/tool-approvals`, undefined, member.token);
    expect(foreignList.status).toBe(404);
    const missingChat = await decide(randomUUID(), 'call_exec', { decision: 'approve' });
    expect(missingChat.status).toBe(404);

    // Nothing changed: the call still waits and the chat still asks.
    expect((await approvalsOf(chatId, true)).map((a) => a.call_id)).toEqual(['call_exec']);
    expect((await app.request('GET', `/chats/${chatId}`)).body.status).toBe('requires_action');
    expect(events.events.some((e) => e.event === 'action_decided')).toBe(false);

    // Two racing decisions: exactly one wins.
    const [a, b] = await Promise.all([
      decide(chatId, 'call_exec', { decision: 'approve' }),
      decide(chatId, 'call_exec', { decision: 'deny' }),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    const won = a.status === 200 ? a.body : b.body;
    await events.waitFor(isStatus('waiting'));
    events.close();

    const again = await decide(chatId, 'call_exec', { decision: 'approve' });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('tool_call_not_waiting');
    expect(again.body.error.details).toEqual({ decision: won.decision });
    const [approval] = await approvalsOf(chatId);
    expect(approval.decision).toBe(won.decision);
    expect(events.events.filter((e) => e.event === 'action_decided')).toHaveLength(1);

    // A call left waiting by a run that is gone (say, terminated by an operator) is not waiting either.
    await app.deps.db
      .updateTable('chat_tool_approvals')
      .set({ decision: null, decided_by: null, decided_at: null, reason: null })
      .where('chat_id', '=', chatId)
      .execute();
    const orphan = await decide(chatId, 'call_exec', { decision: 'approve' });
    expect(orphan.status).toBe(409);
    expect(orphan.body.error).toMatchObject({ code: 'tool_call_not_waiting', details: { decision: null } });
  });

  it('answers a denied call with the reason and never runs it', async () => {
    fake.enqueue(
      toolCalls([{ id: 'call_ws', name: 'create_workspace', args: { template_id: 'empty' } }]),
      toolCalls([{ id: 'call_exec', name: 'execute', args: { command: MARKER_COMMAND } }]),
      toolCalls([{ id: 'call_read', name: 'read_file', args: { path: 'ran.txt' } }]),
      text('Understood.'),
    );
    const chatId = await createChat('Try a command');
    const events = stream(chatId);
    await events.waitFor(actionRequired('call_exec'));

    const denied = await decide(chatId, 'call_exec', { decision: 'deny', reason: 'not on a Friday' });
    expect(denied.status).toBe(200);
    expect(denied.body).toMatchObject({ decision: 'denied', reason: 'not on a Friday' });
    await events.waitFor(isStatus('waiting'));
    events.close();

    const results = await resultsOf(chatId);
    expect(results.get('call_exec')).toEqual({
      result: { error: 'Not run: the user denied this tool call, saying: not on a Friday' },
      is_error: true,
    });
    // The command never ran: the file it writes does not exist.
    expect(results.get('call_read')).toEqual({ result: { error: 'File not found: "ran.txt".' }, is_error: true });
    const requests = requestsOf(chatId);
    expect(requests).toHaveLength(4);
    expect(JSON.stringify(requests[2]!.body)).toContain('the user denied this tool call, saying: not on a Friday');
    expect(requests.some((r) => JSON.stringify(r.body).includes(MARKER_OUTPUT))).toBe(false);
    const [approval] = await approvalsOf(chatId);
    expect(approval).toMatchObject({ decision: 'denied', reason: 'not on a Friday', decided_by: expect.any(String) });
    fake.assertAllConsumed();
  });

  it('approve_always approves the waiting calls of the tool and runs its later calls without asking', async () => {
    fake.enqueue(
      toolCalls([{ id: 'call_ws', name: 'create_workspace', args: { template_id: 'empty' } }]),
      toolCalls([
        { id: 'call_one', name: 'execute', args: { command: 'echo $((1+1))-one' } },
        { id: 'call_two', name: 'execute', args: { command: 'echo $((2+2))-two' } },
      ]),
      toolCalls([{ id: 'call_three', name: 'execute', args: { command: 'echo $((3+3))-three' } }]),
      text('All three ran.'),
    );
    const chatId = await createChat('Run three commands');
    const events = stream(chatId);
    await events.waitFor(actionRequired('call_one'));
    await events.waitFor(actionRequired('call_two'));

    const always = await decide(chatId, 'call_one', { decision: 'approve_always' });
    expect(always.status).toBe(200);
    expect(always.body.decision).toBe('approved_always');
    await events.waitFor(isStatus('waiting'));
    events.close();

    expect(events.events.filter((e) => e.event === 'action_required').map((e) => e.data.approval.call_id)).toEqual([
      'call_one',
      'call_two',
    ]);
    const chat = (await app.request('GET', `/chats/${chatId}`)).body;
    expect(chat.tool_approval).toEqual({ ask: [], granted: ['execute'] });
    const results = await resultsOf(chatId);
    expect(JSON.stringify(results.get('call_one')!.result)).toContain('2-one');
    expect(JSON.stringify(results.get('call_two')!.result)).toContain('4-two');
    expect(JSON.stringify(results.get('call_three')!.result)).toContain('6-three');
    const approvals = await approvalsOf(chatId);
    expect(approvals.map((a) => [a.call_id, a.decision]).sort()).toEqual([
      ['call_one', 'approved_always'],
      ['call_two', 'approved'],
    ]);
    expect(approvals.find((a) => a.call_id === 'call_two').reason).toContain('call_one');
    fake.assertAllConsumed();
  });

  it('lets a chat ask about more tools, never fewer, and go back to the admin policy', async () => {
    fake.enqueue(toolCalls([{ id: 'call_list', name: 'list_templates', args: {} }]), text('Listed.'));
    const chatId = await createChat('List the templates', { tool_approval: { ask: ['*', 'execute'] } });
    expect((await app.request('GET', `/chats/${chatId}`)).body.tool_approval).toEqual({ ask: ['*'], granted: [] });
    const events = stream(chatId);
    // `*` asks even about a tool the admin lets run.
    await events.waitFor(actionRequired('call_list'));
    expect((await decide(chatId, 'call_list', { decision: 'approve' })).status).toBe(200);
    await events.waitFor(isStatus('waiting'));

    const relaxed = await app.request('PATCH', `/chats/${chatId}`, { tool_approval: { ask: [] } });
    expect(relaxed.status).toBe(200);
    expect(relaxed.body.tool_approval).toEqual({ ask: [], granted: [] });
    const from = events.events.length;
    fake.enqueue(
      toolCalls([
        { id: 'call_list_2', name: 'list_templates', args: {} },
        { id: 'call_exec', name: 'execute', args: { command: 'echo hi' } },
      ]),
      text('Listed again.'),
    );
    await app.request('POST', `/chats/${chatId}/messages`, textBody('Again, and run something'));
    // Back to the admin policy: list_templates runs at once, and the chat cannot loosen `execute`.
    await events.waitFor(actionRequired('call_exec'), 60_000, from);
    await events.waitFor(toolResult('call_list_2'), 60_000, from);
    const asked = events.events
      .slice(from)
      .filter((e) => e.event === 'action_required')
      .map((e) => e.data.approval.call_id);
    expect(asked).toEqual(['call_exec']);
    expect((await decide(chatId, 'call_exec', { decision: 'deny' })).status).toBe(200);
    await events.waitFor(isStatus('waiting'), 60_000, from);
    events.close();
    expect((await resultsOf(chatId)).get('call_exec')!.result).toEqual({
      error: 'Not run: the user denied this tool call.',
    });

    const invalid = await app.request('PATCH', `/chats/${chatId}`, { tool_approval: { ask: ['bad name!'] } });
    expect(invalid.status).toBe(400);
    fake.assertAllConsumed();
  });

  describe('a turn that stops while calls wait', () => {
    it('denies them on an interrupt, and a later decision is refused', async () => {
      const long = `echo ${'x'.repeat(5_000)}`;
      fake.enqueue(
        toolCalls([
          { id: 'call_exec', name: 'execute', args: { command: 'echo hi' } },
          { id: 'call_long', name: 'execute', args: { command: long } },
        ]),
      );
      const chatId = await createChat('Run it');
      const events = stream(chatId);
      await events.waitFor(actionRequired('call_exec'));
      // Arguments too large for an event are left out; the message holds them, the hash names them.
      const large = await events.waitFor(actionRequired('call_long'));
      expect(large.data.approval).toMatchObject({
        args: null,
        args_omitted: true,
        args_sha256: argsSha256({ command: long }),
      });

      expect((await app.request('POST', `/chats/${chatId}/interrupt`)).status).toBe(200);
      const decided = await events.waitFor(actionDecided('call_exec'));
      expect(decided.data.approval).toMatchObject({
        decision: 'denied',
        reason: 'the user interrupted the turn',
        decided_by: null,
      });
      expect((await run(chatId).result()).outcome).toBe('interrupted');
      await waitForChat(app, chatId, (c) => c.status === 'waiting');
      events.close();

      const approvals = await approvalsOf(chatId);
      expect(approvals.map((a) => a.call_id).sort()).toEqual(['call_exec', 'call_long']);
      for (const approval of approvals) {
        expect(approval).toMatchObject({
          decision: 'denied',
          reason: 'the user interrupted the turn',
          decided_by: null,
        });
      }
      const results = await resultsOf(chatId);
      for (const callId of ['call_exec', 'call_long']) {
        expect(results.get(callId)).toEqual({
          result: { error: 'Not run: the user interrupted the turn before this tool call was approved.' },
          is_error: true,
        });
      }
      const late = await decide(chatId, 'call_exec', { decision: 'approve' });
      expect(late.status).toBe(409);
      expect(late.body.error).toMatchObject({ code: 'tool_call_not_waiting', details: { decision: 'denied' } });
      expect(requestsOf(chatId)).toHaveLength(1);
    });

    it('denies them when the chat is archived', async () => {
      fake.enqueue(toolCalls([{ id: 'call_exec', name: 'execute', args: { command: 'echo hi' } }]));
      const chatId = await createChat('Run it, then be archived');
      const events = stream(chatId);
      await events.waitFor(actionRequired('call_exec'));

      const archived = await app.request('PATCH', `/chats/${chatId}`, { archived: true });
      expect(archived.status).toBe(200);
      expect((await run(chatId).result()).outcome).toBe('interrupted');
      events.close();
      const [approval] = await approvalsOf(chatId);
      expect(approval).toMatchObject({ decision: 'denied', reason: 'the chat was archived', decided_by: null });
      expect((await app.request('GET', `/chats/${chatId}`)).body).toMatchObject({ archived: true, status: 'waiting' });
      expect((await decide(chatId, 'call_exec', { decision: 'approve' })).status).toBe(409);
    });

    it('denies them as edited when the conversation is edited', async () => {
      fake.enqueue(toolCalls([{ id: 'call_exec', name: 'execute', args: { command: 'echo hi' } }]));
      const chatId = await createChat('Run it');
      const events = stream(chatId);
      await events.waitFor(actionRequired('call_exec'));
      const [first] = (await app.request('GET', `/chats/${chatId}/messages`)).body.messages;

      fake.enqueue(text('No command then.'));
      const edited = await app.request('PATCH', `/chats/${chatId}/messages/${first.id}`, textBody('Never mind'));
      expect(edited.status).toBe(200);
      const decided = await events.waitFor(actionDecided('call_exec'));
      expect(decided.data.approval).toMatchObject({ decision: 'denied', reason: 'the conversation was edited' });
      await waitForChat(app, chatId, (c) => c.status === 'waiting');
      events.close();
      expect((await decide(chatId, 'call_exec', { decision: 'approve' })).status).toBe(409);
      fake.assertAllConsumed();
    });
  });

  it("surfaces a sub-agent's waiting call on its root chat, decided on the sub-agent chat", async () => {
    const SUBTASK = 'SUBTASK: run a command';
    fake.respondTo('fake-model', (req: RecordedRequest): FakeStep | undefined => {
      const body = JSON.stringify(req.body);
      // Sub-agents are not offered the sub-agent tools.
      if (!body.includes('spawn_agent')) {
        if (!body.includes('call_child_exec')) {
          return toolCalls([{ id: 'call_child_exec', name: 'execute', args: { command: 'echo child' } }]);
        }
        return text('child done');
      }
      const child = /chat_id\\?"\s*:\s*\\?"([0-9a-f-]{36})/.exec(body)?.[1];
      if (!child) return toolCalls([{ id: 'call_spawn', name: 'spawn_agent', args: { prompt: SUBTASK } }]);
      if (!body.includes('child done'))
        return toolCalls([{ id: 'call_wait', name: 'wait_agent', args: { chat_id: child } }]);
      return text('The sub-agent is done.');
    });
    const created = await app.request('POST', '/chats', {
      ...textBody('Delegate a command'),
      tool_approval: { ask: ['execute'] },
    });
    expect(created.status).toBe(201);
    const rootId: string = created.body.id;
    const events = stream(rootId);

    const required = await events.waitFor(actionRequired('call_child_exec'));
    const childId: string = required.data.approval.chat_id;
    expect(childId).not.toBe(rootId);
    expect(required.data).toMatchObject({
      chat_id: rootId,
      approval: { root_chat_id: rootId, tool_name: 'execute', args: { command: 'echo child' } },
    });
    const child = (await app.request('GET', `/chats/${childId}`)).body;
    expect(child).toMatchObject({ parent_chat_id: rootId, status: 'requires_action' });
    // The sub-agent inherited its root's ask list; spawn_agent itself never waits.
    expect(child.tool_approval.ask).toEqual(['execute']);
    expect(events.events.filter((e) => e.event === 'action_required')).toHaveLength(1);
    const rootPending = await approvalsOf(rootId, true);
    expect(rootPending.map((a) => [a.chat_id, a.call_id])).toEqual([[childId, 'call_child_exec']]);

    // The call is the sub-agent's: the root chat does not know it by that id.
    expect((await decide(rootId, 'call_child_exec', { decision: 'approve' })).status).toBe(404);
    const decided = await decide(childId, 'call_child_exec', { decision: 'approve' });
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ chat_id: childId, root_chat_id: rootId, decision: 'approved' });
    await events.waitFor((e) => actionDecided('call_child_exec')(e) && e.data.chat_id === rootId);
    await events.waitFor(
      (e) => e.event === 'message' && e.data.message.role === 'assistant' && JSON.stringify(e.data).includes('is done'),
    );
    await waitForChat(app, rootId, (c) => c.status === 'waiting');
    events.close();

    const rootList = await approvalsOf(rootId);
    expect(rootList).toEqual([expect.objectContaining({ chat_id: childId, call_id: 'call_child_exec' })]);
    expect(rootList[0].decision).toBe('approved');
    expect(await approvalsOf(childId)).toEqual(rootList);
    expect(requestsOf(childId).length).toBe(2);
  });

  it("denies a sub-agent's waiting call when its root chat is interrupted", async () => {
    fake.respondTo('fake-model', (req: RecordedRequest): FakeStep | undefined => {
      const body = JSON.stringify(req.body);
      if (!body.includes('spawn_agent')) {
        return toolCalls([{ id: 'call_child_exec', name: 'execute', args: { command: 'echo child' } }]);
      }
      const child = /chat_id\\?"\s*:\s*\\?"([0-9a-f-]{36})/.exec(body)?.[1];
      if (!child) return toolCalls([{ id: 'call_spawn', name: 'spawn_agent', args: { prompt: 'SUBTASK' } }]);
      return toolCalls([{ id: 'call_wait', name: 'wait_agent', args: { chat_id: child } }]);
    });
    const rootId = await createChat('Delegate, then stop', { tool_approval: { ask: ['execute'] } });
    const events = stream(rootId);
    const required = await events.waitFor(actionRequired('call_child_exec'));
    const childId: string = required.data.approval.chat_id;

    expect((await app.request('POST', `/chats/${rootId}/interrupt`)).status).toBe(200);
    const decided = await events.waitFor((e) => actionDecided('call_child_exec')(e) && e.data.chat_id === rootId);
    expect(decided.data.approval).toMatchObject({
      chat_id: childId,
      decision: 'denied',
      reason: 'the user interrupted the turn',
      decided_by: null,
    });
    await waitForChat(app, rootId, (c) => c.status === 'waiting');
    events.close();
    expect(await approvalsOf(rootId, true)).toEqual([]);
    expect((await resultsOf(childId)).get('call_child_exec')).toEqual({
      result: { error: 'Not run: the user interrupted the turn before this tool call was approved.' },
      is_error: true,
    });
    expect((await decide(childId, 'call_child_exec', { decision: 'approve' })).status).toBe(409);
  });

  it('denies a call nobody decided on as expired once the approval timeout passes', async () => {
    const shortApp = await startTestApp({ fake, env: { CHATD_TOOL_APPROVAL_TIMEOUT: '2' } });
    try {
      expect((await shortApp.request('PUT', '/admin/tool-approval-policy', EXECUTE_ASKS)).status).toBe(200);
      fake.enqueue(
        toolCalls([{ id: 'call_exec', name: 'execute', args: { command: 'echo hi' } }]),
        text('Nobody answered.'),
      );
      const created = await shortApp.request('POST', '/chats', textBody('Run it, eventually'));
      const chatId: string = created.body.id;
      const events = SseClient.open(`${shortApp.url}/api/v1/chats/${chatId}/stream`, shortApp.token);
      const required = await events.waitFor(actionRequired('call_exec'));
      const { requested_at, expires_at } = required.data.approval;
      // The worker sets the expiry, the database the request time: a few ms apart.
      expect(Math.abs(Date.parse(expires_at) - Date.parse(requested_at) - 2_000)).toBeLessThan(500);

      const expired = await events.waitFor(actionDecided('call_exec'), 30_000);
      expect(expired.data.approval).toMatchObject({ decision: 'expired', decided_by: null });
      expect(expired.data.approval.reason).toContain(expires_at);
      await events.waitFor(isStatus('waiting'), 30_000);
      events.close();

      const handle = shortApp.deps.temporal.client.workflow.getHandle(`chat-${chatId}`);
      expect(await handle.result()).toEqual({ outcome: 'completed', steps: 2 });
      const requests = fake.requests.filter((r) => r.headers['x-chatd-chat-id'] === chatId && r.model === 'fake-model');
      expect(requests).toHaveLength(2);
      expect(JSON.stringify(requests[1]!.body)).toContain('nobody approved this tool call in time');
      const late = await shortApp.request('POST', `/chats/${chatId}/tool-calls/call_exec/decision`, {
        decision: 'approve',
      });
      expect(late.status).toBe(409);
      expect(late.body.error.details).toEqual({ decision: 'expired' });
      fake.assertAllConsumed();
    } finally {
      await shortApp.stop();
    }
  });
});

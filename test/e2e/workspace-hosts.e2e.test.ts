/**
 * Workspace hosts on real Temporal and PostgreSQL (README "Workspace hosts"): two worker processes
 * with their own host ids and data directories serve one task queue. Whichever creates a chat's
 * workspace becomes its host, and every later tool call of the chat runs there (the file written in
 * one turn is edited and read back in the next ones, and exists only in that host's directory). With the host
 * killed, a tool call gets the "workspace host unavailable" error within the configured timeout, the
 * turn completes and the workspace is not marked deleted; once the host restarts, tools work again.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  pgBus,
  startTestApp,
  startWorkerProcess,
  textBody,
  waitForChat,
  type TestApp,
  type WorkerProcess,
} from '../support/app';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { text, toolCalls } from '../../src/dev/fake-llm/script';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { captureHistory } from '../support/temporal';

/** Short, so the dead-host turn is quick; the default is 60 s. */
const PICKUP_TIMEOUT_SECONDS = 5;

interface Host {
  id: string;
  dataDir: string;
  process?: WorkerProcess;
}

describe('workspace hosts', () => {
  let fake: FakeLlmServer;
  let database: TestDatabase;
  let taskQueue: string;
  let api: TestApp | undefined;
  let hosts: Host[] = [];

  beforeEach(async () => {
    fake = await FakeLlmServer.start();
    database = await createTestDatabase();
    taskQueue = `chatd-test-${randomUUID()}`;
    hosts = ['a', 'b'].map((name) => ({
      id: `e2e-${name}-${randomUUID()}`,
      dataDir: traversable(mkdtempSync(path.join(os.tmpdir(), `chatd-host-${name}-`))),
    }));
  });

  afterEach(async () => {
    for (const host of hosts) await host.process?.kill();
    await api?.stop();
    api = undefined;
    await database?.drop();
    await fake?.close();
    for (const host of hosts) rmSync(host.dataDir, { recursive: true, force: true });
  });

  async function startHost(host: Host): Promise<void> {
    host.process = await startWorkerProcess({
      database,
      taskQueue,
      env: {
        CHATD_WORKSPACE_HOST_ID: host.id,
        CHATD_DATA_DIR: host.dataDir,
        CHATD_WORKSPACE_HOST_TIMEOUT: String(PICKUP_TIMEOUT_SECONDS),
      },
    });
  }

  /** One turn: the model makes `calls`, then answers; resolves with the turn's tool results. */
  async function turn(
    chatId: string | null,
    calls: Parameters<typeof toolCalls>[0],
  ): Promise<{ chatId: string; results: any[] }> {
    fake.enqueue(toolCalls(calls), text('Done.'));
    const before = chatId ? (await messages(chatId)).length : 0;
    const sent = chatId
      ? await api!.request('POST', `/chats/${chatId}/messages`, textBody('Go on'))
      : await api!.request('POST', '/chats', textBody('Start'));
    expect([200, 201, 202]).toContain(sent.status);
    const id: string = chatId ?? sent.body.id;
    await waitForChat(api!, id, (c) => c.status === 'waiting' || c.status === 'error', 'the turn to end', 90_000);
    const results = (await messages(id))
      .slice(before)
      .filter((m) => m.role === 'tool')
      .map((m) => m.content[0]);
    return { chatId: id, results };
  }

  async function messages(chatId: string): Promise<any[]> {
    return (await api!.request('GET', `/chats/${chatId}/messages?limit=200`)).body.messages;
  }

  async function workspaceRow(chatId: string) {
    return api!.deps.db
      .selectFrom('chats')
      .innerJoin('workspaces', 'workspaces.id', 'chats.workspace_id')
      .select(['workspaces.host_id', 'workspaces.status', 'workspaces.provider_ref'])
      .where('chats.id', '=', chatId)
      .executeTakeFirstOrThrow();
  }

  /** Whether a file named `name` exists anywhere under `dir`. */
  function hasFile(dir: string, name: string): boolean {
    if (!existsSync(dir)) return false;
    return readdirSync(dir, { recursive: true, encoding: 'utf8' }).some((p) => path.basename(p) === name);
  }

  /** The task queues the chat's runTools activities were scheduled on, across its runs (any order). */
  async function runToolsQueues(chatId: string): Promise<string[]> {
    const queues: string[] = [];
    const client = api!.deps.temporal.client;
    for await (const run of client.workflow.list({ query: `WorkflowId = "chat-${chatId}"` })) {
      const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
      for (const e of history.events ?? []) {
        const scheduled = e.activityTaskScheduledEventAttributes;
        if (scheduled?.activityType?.name === 'runTools') queues.push(scheduled.taskQueue!.name!);
      }
    }
    return queues;
  }

  /** With CAPTURE_HISTORIES=1, the chat's latest run (closed first) as a replay fixture. */
  async function captureTurn(chatId: string, name: string): Promise<void> {
    const handle = api!.deps.temporal.client.workflow.getHandle(`chat-${chatId}`);
    await handle.result();
    await captureHistory(handle, name);
  }

  it('runs every tool call on the workspace host, reports a dead host to the model, and recovers', async () => {
    api = await startTestApp({ fake, database, taskQueue, roles: { api: true, worker: false }, bus: pgBus(database) });
    for (const host of hosts) await startHost(host);

    const first = await turn(null, [{ id: 'call_ws', name: 'create_workspace', args: { template_id: 'empty' } }]);
    const chatId = first.chatId;
    expect(first.results.map((r) => [r.is_error, r.result])).toEqual([[false, expect.anything()]]);
    const row = await workspaceRow(chatId);
    const owner = hosts.find((h) => h.id === row.host_id)!;
    const other = hosts.find((h) => h !== owner)!;
    expect(owner).toBeDefined();

    // Several turns, each step's tool calls on the model's worker of the moment: all on the host.
    const written = await turn(chatId, [
      { id: 'call_w', name: 'write_file', args: { path: 'proof.txt', content: 'written on the host\n' } },
    ]);
    expect(written.results.map((r) => r.is_error)).toEqual([false]);
    // Edited, read back and run in later turns.
    const edited = await turn(chatId, [
      {
        id: 'call_e',
        name: 'edit_files',
        args: {
          files: [{ path: 'proof.txt', edits: [{ old: 'written on the host', new: 'written, then appended' }] }],
        },
      },
    ]);
    expect(edited.results.map((r) => r.is_error)).toEqual([false]);
    const read = await turn(chatId, [{ id: 'call_r', name: 'read_file', args: { path: 'proof.txt' } }]);
    expect(read.results[0].is_error).toBe(false);
    expect(JSON.stringify(read.results[0].result)).toContain('written, then appended');
    const ran = await turn(chatId, [{ id: 'call_x', name: 'execute', args: { command: 'cat proof.txt; id -u' } }]);
    expect(ran.results[0].result).toMatchObject({
      exit_code: 0,
      output: 'written, then appended\n1000\n',
      sandbox: expect.stringMatching(/^network none;/),
    });
    expect(hasFile(owner.dataDir, 'proof.txt')).toBe(true);
    expect(hasFile(other.dataDir, 'proof.txt')).toBe(false);
    // The first tool step (no workspace yet) ran on the shared queue; every later one on the host's.
    expect((await runToolsQueues(chatId)).sort()).toEqual(
      [taskQueue, ...Array<string>(4).fill(`chatd-ws-${owner.id}`)].sort(),
    );

    // The host dies: the model is told, the turn completes, the workspace stays.
    await owner.process!.kill();
    owner.process = undefined;
    const started = Date.now();
    const dead = await turn(chatId, [{ id: 'call_d', name: 'read_file', args: { path: 'proof.txt' } }]);
    expect(dead.results).toHaveLength(1);
    expect(dead.results[0].is_error).toBe(true);
    expect(dead.results[0].result.error).toBe(
      `workspace host unavailable: ${owner.id} did not pick up the tool calls within ${PICKUP_TIMEOUT_SECONDS} s; try again later`,
    );
    expect(Date.now() - started).toBeLessThan(60_000);
    expect((await api.request('GET', `/chats/${chatId}`)).body.status).toBe('waiting');
    // The model saw the error in its next request.
    expect(JSON.stringify(fake.requests[fake.requests.length - 1]!.body)).toContain('workspace host unavailable');
    expect((await workspaceRow(chatId)).status).toBe('running');
    await captureTurn(chatId, 'chat-workflow.host-unavailable');

    // The host restarts with the same id and directory: tool calls work again.
    await startHost(owner);
    const back = await turn(chatId, [{ id: 'call_b', name: 'read_file', args: { path: 'proof.txt' } }]);
    expect(back.results[0].is_error).toBe(false);
    expect(JSON.stringify(back.results[0].result)).toContain('written, then appended');
    expect((await workspaceRow(chatId)).status).toBe('running');
    await captureTurn(chatId, 'chat-workflow.workspace-host');
  }, 300_000);
});

/** Sandboxes run as their workspace's own uid, which must be able to traverse to the workspace. */
function traversable(dir: string): string {
  chmodSync(dir, 0o711);
  return dir;
}

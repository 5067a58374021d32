/**
 * The model attacks the host through a real turn: over HTTP and SSE, on real PostgreSQL and Temporal,
 * the scripted model creates a workspace and then tries, with `execute` and `read_file`, to reach the
 * test stack's own services (PostgreSQL, the Temporal frontend, chatd's API, the fake LLM), to act as
 * root, to read the worker's environment, and to read a host file through a symlink. Every attempt
 * ends as a tool result the model reads; the turn completes. docs/workspaces.md lists the properties.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startTestApp, type TestApp } from '../support/app';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { text, toolCalls } from '../../src/dev/fake-llm/script';
import { SseClient } from '../support/sse';
import { temporalAddress } from '../support/temporal';

describe('a hostile model in a real turn', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let secretDir: string;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
    secretDir = mkdtempSync(path.join(os.tmpdir(), 'chatd-host-secret-'));
    writeFileSync(path.join(secretDir, 'secret.txt'), 'HOST SECRET');
  });
  afterAll(async () => {
    await app?.stop();
    await fake?.close();
    rmSync(secretDir, { recursive: true, force: true });
  });

  it('reaches no service of the stack, has no privileges, and reads no host file', async () => {
    const ports = [
      new URL(process.env.CHATD_TEST_DATABASE_URL!).port,
      temporalAddress().split(':').pop()!,
      new URL(app.url).port,
      new URL(fake.url).port,
    ];
    expect(ports.every((p) => /^\d+$/.test(p))).toBe(true);
    const probes = ports
      .map((p) => `timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/${p}' 2>/dev/null && echo "OPEN ${p}"`)
      .join('; ');
    const secret = path.join(secretDir, 'secret.txt');
    fake.enqueue(
      toolCalls([{ id: 'call_ws', name: 'create_workspace', args: { template_id: 'empty' } }]),
      toolCalls([
        { id: 'call_net', name: 'execute', args: { command: `${probes}; echo probed` } },
        {
          id: 'call_root',
          name: 'execute',
          args: {
            command:
              'id -u; grep CapEff /proc/self/status; env | grep -c -E "DATABASE|TEMPORAL|API_KEY"; ' +
              `ln -s ${secret} leak; cat leak 2>&1 | head -1`,
          },
        },
      ]),
      toolCalls([
        { id: 'call_link', name: 'read_file', args: { path: 'leak' } },
        { id: 'call_abs', name: 'read_file', args: { path: secret } },
      ]),
      text('Nothing worked.'),
    );

    const created = await app.request('POST', '/chats', { content: [{ type: 'text', text: 'Break out.' }] });
    expect(created.status).toBe(201);
    const chatId: string = created.body.id;
    const stream = SseClient.open(`${app.url}/api/v1/chats/${chatId}/stream`, app.token);
    await stream.waitFor((e) => e.event === 'status' && e.data.status === 'waiting', 60_000);
    stream.close();

    const { body } = await app.request('GET', `/chats/${chatId}/messages`);
    const results = new Map<string, { result: any; is_error: boolean }>();
    for (const message of body.messages) {
      if (message.role !== 'tool') continue;
      for (const part of message.content) results.set(part.tool_call_id, part);
    }
    expect(results.get('call_ws')?.is_error).toBe(false);

    const net = results.get('call_net')!.result;
    expect(net.output).toBe('probed\n');
    expect(net.sandbox).toMatch(/^network none;/);

    const root = String(results.get('call_root')!.result.output).split('\n');
    expect(root[0]).toBe('1000');
    expect(root[1]).toMatch(/^CapEff:\s+0{16}$/);
    expect(root[2]).toBe('0');
    // The host path does not exist in the sandbox, so the symlink dangles there.
    expect(root[3]).toMatch(/No such file or directory/);

    for (const id of ['call_link', 'call_abs']) {
      const read = results.get(id)!;
      expect(read.is_error).toBe(true);
      expect(JSON.stringify(read.result)).toMatch(/outside the workspace/);
      expect(JSON.stringify(read.result)).not.toContain('HOST SECRET');
    }
    const handle = app.deps.temporal.client.workflow.getHandle(`chat-${chatId}`);
    expect(await handle.result()).toEqual({ outcome: 'completed', steps: 4 });
  });
});

/**
 * The background process tools against real processes: `process_output` waits and reports exit status,
 * `process_signal` takes down the whole process group and reaps exited processes, and every process is
 * scoped to the chat that started it.
 */
import { createHarness, pidIn, resultOf, sleeping, uniqueSleep, waitFor, type Harness } from './support';

let h: Harness;

beforeEach(async () => {
  h = await createHarness({ killGraceMs: 300 });
});

afterEach(async () => {
  await h.cleanup();
});

async function startBackground(command: string, chatId = 'chat-a'): Promise<string> {
  const out = await h.call('execute', { command, run_in_background: true }, { chatId });
  expect(out.isError).toBe(false);
  return String(resultOf(out).background_process_id);
}

describe('process_output', () => {
  it('waits for the process to exit and returns its output and exit code', async () => {
    const id = await startBackground('echo one; sleep 0.2; echo two; exit 4');
    const out = await h.call('process_output', { process_id: id, wait_ms: 5_000 });
    expect(out.isError).toBe(false);
    expect(resultOf(out)).toMatchObject({ process_id: id, status: 'exited', exit_code: 4, output: 'one\ntwo\n' });
  });

  it('answers a snapshot with wait_ms 0 and says the process is still running', async () => {
    const id = await startBackground('echo ready; sleep 300');
    await waitFor(
      async () => resultOf(await h.call('process_output', { process_id: id, wait_ms: 0 })).output === 'ready\n',
    );
    const started = Date.now();
    const out = await h.call('process_output', { process_id: id, wait_ms: 0 });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(resultOf(out)).toMatchObject({ status: 'running', exit_code: null, output: 'ready\n' });
    expect(String(resultOf(out).note)).toMatch(/Still running/);
  });

  it('returns after wait_ms when the process keeps running', async () => {
    const id = await startBackground('sleep 300');
    const started = Date.now();
    const out = await h.call('process_output', { process_id: id, wait_ms: 300 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(resultOf(out)).toMatchObject({ status: 'running' });
  });

  it('reports an unknown id as not found', async () => {
    const out = await h.call('process_output', { process_id: 'proc-nope', wait_ms: 0 });
    expect(out.isError).toBe(true);
    expect(String(resultOf(out).error)).toMatch(/No process "proc-nope"/);
  });
});

describe('process_signal', () => {
  // A dev server's workers are children of the shell: stopping only the shell would leave them running.
  it('signals the whole process group, then reaps the exited process', async () => {
    const nap = uniqueSleep();
    const id = await startBackground(`sleep ${nap} & echo $!; wait`);
    await waitFor(async () => {
      const output = resultOf(await h.call('process_output', { process_id: id, wait_ms: 0 })).output;
      if (!/^\d+$/m.test(String(output))) return false;
      pidIn(output);
      return true;
    });
    expect(sleeping(nap)).toBe(true);

    const out = await h.call('process_signal', { process_id: id, signal: 'terminate' });
    expect(out.isError).toBe(false);
    expect(resultOf(out)).toMatchObject({ process_id: id, status: 'exited', signal_sent: 'terminate', reaped: true });
    await waitFor(() => !sleeping(nap), 2_000);
    expect(sleeping(nap)).toBe(false);

    const list = await h.call('process_list', {});
    expect(resultOf(list)).toEqual({ processes: [], count: 0 });
  });

  it('reaps a process that already exited and reports its exit status', async () => {
    const id = await startBackground('exit 7');
    await h.call('process_output', { process_id: id, wait_ms: 5_000 });
    const listed = await h.call('process_list', {});
    expect(resultOf(listed).processes).toEqual([
      expect.objectContaining({ process_id: id, status: 'exited', exit_code: 7 }),
    ]);

    const out = await h.call('process_signal', { process_id: id });
    expect(resultOf(out)).toMatchObject({ status: 'exited', exit_code: 7, signal_sent: null, reaped: true });
    expect(String(resultOf(out).note)).toMatch(/already exited/);
    const after = await h.call('process_list', {});
    expect(resultOf(after).count).toBe(0);
    const again = await h.call('process_signal', { process_id: id });
    expect(again.isError).toBe(true);
  });

  it('kills a process that ignores terminate with kill', async () => {
    const id = await startBackground("trap '' TERM; echo trapped; while :; do sleep 0.05; done");
    await waitFor(
      async () => resultOf(await h.call('process_output', { process_id: id, wait_ms: 0 })).output === 'trapped\n',
    );
    const kill = await h.call('process_signal', { process_id: id, signal: 'kill' });
    expect(resultOf(kill)).toMatchObject({ status: 'exited', signal: 'SIGKILL', reaped: true });
  });
});

describe('chat scoping', () => {
  // Chats share a workspace only through their owner; one chat must not read or stop another's processes.
  it('hides a process of chat A from chat B', async () => {
    const id = await startBackground('sleep 300', 'chat-a');

    const output = await h.call('process_output', { process_id: id, wait_ms: 0 }, { chatId: 'chat-b' });
    expect(output.isError).toBe(true);
    expect(String(resultOf(output).error)).toMatch(/No process/);
    const signal = await h.call('process_signal', { process_id: id, signal: 'kill' }, { chatId: 'chat-b' });
    expect(signal.isError).toBe(true);
    const list = await h.call('process_list', {}, { chatId: 'chat-b' });
    expect(resultOf(list)).toEqual({ processes: [], count: 0 });

    const mine = await h.call('process_output', { process_id: id, wait_ms: 0 }, { chatId: 'chat-a' });
    expect(resultOf(mine)).toMatchObject({ status: 'running' });
  });

  it("kills only the given chat's processes with killProcesses", async () => {
    const a = await startBackground('sleep 300', 'chat-a');
    const b = await startBackground('sleep 300', 'chat-b');
    expect(await h.workspace.killProcesses('chat-a')).toBe(1);
    expect((await h.workspace.getProcess('chat-a', a))?.status).toBe('exited');
    expect((await h.workspace.getProcess('chat-b', b))?.status).toBe('running');
  });
});

/**
 * The `execute` tool against real processes in a real temp workspace: output and exit codes, the
 * non-interactive environment, timeouts and interrupts that take the whole process group down, the
 * trailing-`&` promotion and the 32 KB output cap.
 */
import { createHarness, pidIn, resultOf, sleeping, uniqueSleep, waitFor, type Harness } from './support';

let h: Harness;

beforeEach(async () => {
  h = await createHarness({ killGraceMs: 300 });
});

afterEach(async () => {
  await h.cleanup();
});

describe('execute (foreground)', () => {
  it('returns the combined output and the exit code', async () => {
    const out = await h.call('execute', { command: 'echo hello; echo oops >&2; exit 3' });
    expect(out.isError).toBe(false);
    expect(resultOf(out)).toMatchObject({ success: false, exit_code: 3 });
    expect(resultOf(out).output).toContain('hello');
    expect(resultOf(out).output).toContain('oops');
    expect(typeof resultOf(out).wall_duration_ms).toBe('number');
  });

  it('reports success for exit code 0 and runs in the workspace root', async () => {
    const out = await h.call('execute', { command: 'pwd' });
    expect(resultOf(out)).toMatchObject({ success: true, exit_code: 0 });
    expect(String(resultOf(out).output).trim()).toBe(h.workspace.root);
  });

  it('runs in workdir, and refuses a workdir outside the workspace', async () => {
    await h.call('write_file', { path: 'sub/x.txt', content: '' });
    const inside = await h.call('execute', { command: 'pwd', workdir: 'sub' });
    expect(String(resultOf(inside).output).trim()).toBe(`${h.workspace.root}/sub`);
    const outside = await h.call('execute', { command: 'pwd', workdir: '../..' });
    expect(outside.isError).toBe(true);
    expect(String(resultOf(outside).error)).toMatch(/outside the workspace/);
  });

  // Commands must never wait for a human: closed stdin, no pager, no git credential prompt.
  it('runs with a non-interactive environment and stdin closed', async () => {
    const out = await h.call('execute', {
      command: 'echo "$GIT_TERMINAL_PROMPT|$PAGER|$TERM|$GIT_EDITOR"; cat; echo "stdin done"',
      timeout_ms: 5_000,
    });
    expect(resultOf(out)).toMatchObject({ success: true });
    expect(resultOf(out).output).toBe('0|cat|dumb|true\nstdin done\n');
  });

  // Worker secrets (database URL, provider keys) live in its environment; the model's commands must not see them.
  it('does not pass the worker environment to commands', async () => {
    process.env.CHATD_TEST_SECRET = 'do-not-leak';
    try {
      const out = await h.call('execute', { command: 'echo "[$CHATD_TEST_SECRET]"' });
      expect(resultOf(out).output).toBe('[]\n');
    } finally {
      delete process.env.CHATD_TEST_SECRET;
    }
  });

  it('kills the whole process group on timeout and returns the partial output', async () => {
    const started = Date.now();
    const nap = uniqueSleep();
    const out = await h.call('execute', { command: `sleep ${nap} & echo $!; echo partial; wait`, timeout_ms: 500 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(out.isError).toBe(true);
    expect(String(resultOf(out).error)).toMatch(/timed out after 500 ms/);
    expect(resultOf(out).output).toContain('partial');
    pidIn(resultOf(out).output);
    expect(sleeping(nap)).toBe(false);
  });

  it('stops processes a finished foreground command left behind', async () => {
    const nap = uniqueSleep();
    const out = await h.call('execute', { command: `sleep ${nap} > /dev/null 2>&1 & echo $!` });
    expect(resultOf(out)).toMatchObject({ success: true, exit_code: 0 });
    pidIn(resultOf(out).output);
    await waitFor(() => !sleeping(nap), 3_000);
    expect(sleeping(nap)).toBe(false);
  });

  it('stops a foreground command promptly when the call is interrupted', async () => {
    const controller = new AbortController();
    const nap = uniqueSleep();
    const pending = h.call(
      'execute',
      { command: `sleep ${nap} & echo $! > child.pid; wait`, timeout_ms: 60_000 },
      { signal: controller.signal },
    );
    await waitFor(async () => ((await h.workspace.stat('child.pid'))?.size ?? 0) > 0);
    pidIn(await h.workspace.readFile('child.pid'));
    expect(sleeping(nap)).toBe(true);

    const abortedAt = Date.now();
    controller.abort();
    const out = await pending;
    expect(Date.now() - abortedAt).toBeLessThan(500);
    expect(out).toEqual({ isError: true, result: { error: 'The tool call was interrupted.' } });
    await waitFor(() => !sleeping(nap), 2_000);
    expect(sleeping(nap)).toBe(false);
  });

  it('caps long output at 32 KB, keeping the start and the end', async () => {
    const out = await h.call('execute', { command: "echo FIRST; yes 'é€😀' | head -n 20000; echo LAST" });
    const output = String(resultOf(out).output);
    expect(Buffer.byteLength(output)).toBeLessThanOrEqual(32 * 1024);
    expect(output.startsWith('FIRST')).toBe(true);
    expect(output.trimEnd().endsWith('LAST')).toBe(true);
    expect(output).not.toContain('\uFFFD');
    expect(resultOf(out)).toMatchObject({ truncated: true });
    expect(String(resultOf(out).note)).toMatch(/Output truncated/);
  });
});

describe('execute (output buffer)', () => {
  it('says when the start of very long output is no longer buffered', async () => {
    const small = await createHarness({ outputBufferBytes: 40_000 });
    try {
      const out = await small.call('execute', { command: 'seq 1 30000' });
      const output = String(resultOf(out).output);
      expect(output.trimEnd().endsWith('30000')).toBe(true);
      expect(output.startsWith('1\n')).toBe(false);
      expect(String(resultOf(out).note)).toMatch(/of 168894 bytes \(the first 128894 bytes are no longer buffered; /);
    } finally {
      await small.cleanup();
    }
  });
});

describe('execute (background)', () => {
  it('starts a command ending in a lone "&" in the background', async () => {
    const out = await h.call('execute', { command: 'sleep 0.2; echo done &' });
    expect(out.isError).toBe(false);
    const id = String(resultOf(out).background_process_id);
    expect(id).toMatch(/^proc-/);
    const done = await h.call('process_output', { process_id: id, wait_ms: 5_000 });
    expect(resultOf(done)).toMatchObject({
      status: 'exited',
      exit_code: 0,
      output: 'done\n',
      command: 'sleep 0.2; echo done',
    });
  });

  it('keeps "&&" in the foreground', async () => {
    const out = await h.call('execute', { command: 'true && echo chained' });
    expect(resultOf(out)).toMatchObject({ success: true, output: 'chained\n' });
    expect(resultOf(out).background_process_id).toBeUndefined();
  });

  it('returns at once with run_in_background', async () => {
    const started = Date.now();
    const out = await h.call('execute', { command: 'sleep 300', run_in_background: true });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(resultOf(out)).toMatchObject({ success: true });
    const list = await h.call('process_list', {});
    expect(resultOf(list).processes).toEqual([
      expect.objectContaining({ process_id: resultOf(out).background_process_id, status: 'running' }),
    ]);
  });
});

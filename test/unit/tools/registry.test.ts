/**
 * The tool registry's contract with the agent loop: whatever the model sends (unknown tools, malformed
 * JSON, arguments failing the schema) and whatever a tool throws becomes an error result for the model,
 * never a failed turn; interrupts answer at once; a step's calls run concurrently and keep call order.
 */
import { z } from 'zod';
import { parseToolInput } from '../../../src/llm/types';
import { buildToolRegistry, executeToolCalls, type ToolCallRequest } from '../../../src/tools/registry';
import {
  toolResult,
  ToolInfrastructureError,
  type AnyToolDefinition,
  type ToolContext,
  type ToolDefinition,
} from '../../../src/tools/types';

const ctx = (overrides: Partial<ToolContext> = {}): ToolContext => ({
  chatId: 'chat-1',
  toolCallId: 'call-1',
  signal: new AbortController().signal,
  workspace: null,
  heartbeat: () => undefined,
  ...overrides,
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const EchoArgs = z.object({ text: z.string().describe('What to echo'), times: z.number().int().min(1).default(1) });
const echo: ToolDefinition<z.infer<typeof EchoArgs>> = {
  name: 'echo',
  description: 'Echoes text.',
  args: EchoArgs,
  execute: async (args) => toolResult({ echoed: args.text.repeat(args.times) }),
};

/** A tool that answers after `ms` with its call id, recording when it ran. */
function delayed(log: string[]): ToolDefinition<{ ms: number }> {
  return {
    name: 'delayed',
    description: 'Waits.',
    args: z.object({ ms: z.number() }),
    execute: async (args, c) => {
      log.push(`start ${c.toolCallId}`);
      await sleep(args.ms);
      log.push(`end ${c.toolCallId}`);
      return toolResult({ id: c.toolCallId });
    },
  };
}

const call = (name: string, input: Record<string, unknown>, id = 'call-1'): ToolCallRequest => ({ id, name, input });

describe('buildToolRegistry().specs', () => {
  it('derives an object JSON schema from zod, without $schema, with defaulted fields optional', () => {
    const [spec] = buildToolRegistry([echo]).specs();
    expect(spec).toEqual({
      name: 'echo',
      description: 'Echoes text.',
      inputSchema: {
        type: 'object',
        properties: {
          text: { type: 'string', description: 'What to echo' },
          times: { type: 'integer', minimum: 1, default: 1, maximum: Number.MAX_SAFE_INTEGER },
        },
        required: ['text'],
      },
    });
  });

  it('refuses duplicate names and non-object schemas', () => {
    expect(() => buildToolRegistry([echo, echo])).toThrow(/Duplicate tool name: echo/);
    const bad: AnyToolDefinition = { ...echo, name: 'bad', args: z.string() };
    expect(() => buildToolRegistry([bad])).toThrow(/must describe an object/);
  });
});

describe('buildToolRegistry().execute', () => {
  it('runs a tool on parsed arguments (defaults applied)', async () => {
    const out = await buildToolRegistry([echo]).execute(call('echo', { text: 'ab', times: 2 }), ctx());
    expect(out).toEqual({ isError: false, result: { echoed: 'abab' } });
  });

  it('answers an unknown tool with an error naming the available tools', async () => {
    const out = await buildToolRegistry([echo, delayed([])]).execute(call('rm_rf', {}), ctx());
    expect(out).toEqual({ isError: true, result: { error: 'Tool not found: rm_rf. Available tools: echo, delayed.' } });
  });

  // Providers repair malformed argument JSON to `{}`; running the tool on `{}` would hide the model's mistake.
  it('answers malformed argument JSON with the parse error instead of running the tool', async () => {
    let ran = false;
    const tool: ToolDefinition<Record<string, never>> = {
      name: 'noargs',
      description: 'No args.',
      args: z.object({}),
      execute: async () => {
        ran = true;
        return toolResult({});
      },
    };
    const { input, invalidInput } = parseToolInput('{"text": "unterminated');
    const out = await buildToolRegistry([tool]).execute({ id: 'c', name: 'noargs', input, invalidInput }, ctx());
    expect(out.isError).toBe(true);
    const error = String((out.result as { error: string }).error);
    expect(error).toContain(invalidInput!.message);
    expect(error).toMatch(/^Invalid JSON in tool arguments: .+ Call noargs again/);
    expect(ran).toBe(false);
  });

  it('lists every schema issue with its path', async () => {
    const out = await buildToolRegistry([echo]).execute(call('echo', { times: 0 }), ctx());
    expect(out.isError).toBe(true);
    const result = out.result as { error: string; issues: Array<{ path: string; message: string }> };
    expect(result.error).toMatch(/^Invalid arguments for echo: /);
    expect(result.issues.map((i) => i.path)).toEqual(['text', 'times']);
    expect(result.error).toContain('text: ');
    expect(result.error).toContain('times: ');
  });

  it('turns a thrown error into an error result', async () => {
    const boom: AnyToolDefinition = { ...echo, execute: async () => Promise.reject(new Error('disk on fire')) };
    const out = await buildToolRegistry([boom]).execute(call('echo', { text: 'x' }), ctx());
    expect(out).toEqual({ isError: true, result: { error: 'echo failed: disk on fire' } });
  });

  // Infrastructure faults are retried by Temporal rather than shown to the model.
  it('rethrows ToolInfrastructureError', async () => {
    const infra: AnyToolDefinition = {
      ...echo,
      execute: async () => Promise.reject(new ToolInfrastructureError('host gone')),
    };
    await expect(buildToolRegistry([infra]).execute(call('echo', { text: 'x' }), ctx())).rejects.toBeInstanceOf(
      ToolInfrastructureError,
    );
  });

  it('answers an interrupt at once, even when the tool ignores the signal', async () => {
    const stubborn: AnyToolDefinition = { ...echo, execute: () => new Promise(() => undefined) };
    const controller = new AbortController();
    const pending = buildToolRegistry([stubborn]).execute(
      call('echo', { text: 'x' }),
      ctx({ signal: controller.signal }),
    );
    setTimeout(() => controller.abort(), 20);
    const started = Date.now();
    await expect(pending).resolves.toEqual({ isError: true, result: { error: 'The tool call was interrupted.' } });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('does not start a tool when the call is already interrupted', async () => {
    let ran = false;
    const tool: AnyToolDefinition = { ...echo, execute: async () => ((ran = true), toolResult({})) };
    const controller = new AbortController();
    controller.abort();
    const out = await buildToolRegistry([tool]).execute(
      call('echo', { text: 'x' }),
      ctx({ signal: controller.signal }),
    );
    expect(out).toEqual({ isError: true, result: { error: 'The tool call was interrupted.' } });
    expect(ran).toBe(false);
  });

  it('keeps results plain JSON', async () => {
    const tool: AnyToolDefinition = {
      ...echo,
      execute: async () => toolResult({ when: new Date(0), skipped: undefined, n: 1 }),
    };
    const out = await buildToolRegistry([tool]).execute(call('echo', { text: 'x' }), ctx());
    expect(out.result).toEqual({ when: '1970-01-01T00:00:00.000Z', n: 1 });
  });

  // A long tool must keep the Temporal activity alive.
  it('heartbeats while a tool runs', async () => {
    let beats = 0;
    const registry = buildToolRegistry([delayed([])], { heartbeatIntervalMs: 10 });
    await registry.execute(call('delayed', { ms: 80 }), ctx({ heartbeat: () => beats++ }));
    expect(beats).toBeGreaterThanOrEqual(3);
  });
});

describe('executeToolCalls', () => {
  it('runs the calls of a step concurrently and returns results in call order', async () => {
    const log: string[] = [];
    const registry = buildToolRegistry([delayed(log), echo]);
    const calls = [
      call('delayed', { ms: 120 }, 'a'),
      call('delayed', { ms: 10 }, 'b'),
      call('nope', {}, 'c'),
      call('delayed', { ms: 60 }, 'd'),
    ];
    const finished: string[] = [];
    const { toolCallId: _ignored, ...base } = ctx();
    const results = await executeToolCalls(registry, calls, base, { onResult: (r) => finished.push(r.id) });

    // Every call started before the first one finished: they ran side by side, not one after another.
    expect(log.slice(0, 3)).toEqual(['start a', 'start b', 'start d']);
    expect(finished).toEqual(['c', 'b', 'd', 'a']);
    expect(results.map((r) => r.id)).toEqual(['a', 'b', 'c', 'd']);
    expect(results[0]).toEqual({ type: 'tool-result', id: 'a', name: 'delayed', result: { id: 'a' }, isError: false });
    expect(results[2]).toMatchObject({ id: 'c', name: 'nope', isError: true });
  });

  it('lets the other calls finish, then rethrows an infrastructure fault', async () => {
    const log: string[] = [];
    const infra: AnyToolDefinition = {
      ...echo,
      name: 'infra',
      execute: async () => Promise.reject(new ToolInfrastructureError('x')),
    };
    const registry = buildToolRegistry([delayed(log), infra]);
    const { toolCallId: _ignored, ...base } = ctx();
    await expect(
      executeToolCalls(registry, [call('infra', { text: 'x' }, 'a'), call('delayed', { ms: 30 }, 'b')], base),
    ).rejects.toBeInstanceOf(ToolInfrastructureError);
    expect(log).toEqual(['start b', 'end b']);
  });
});

/**
 * The tool registry: turns a list of tool definitions into provider-neutral `ToolSpec`s and executes tool
 * calls safely. Whatever the model sends (an unknown tool, unparsable JSON, arguments that fail the
 * schema) and whatever a tool throws becomes an error result for the model; only infrastructure faults
 * propagate. `executeToolCalls` runs a step's calls concurrently and keeps call order.
 */
import { z } from 'zod';
import type { JsonSchema, ModelToolResult, ToolInputError, ToolSpec } from '../llm/types';
import { toolError, ToolInfrastructureError, type AnyToolDefinition, type ToolContext, type ToolOutput } from './types';

/** A tool call as the model made it (provider-executed calls never reach the registry). */
export interface ToolCallRequest {
  id: string;
  name: string;
  input: Record<string, unknown>;
  /** Set when the model's argument text was not a JSON object; the call is then answered with an error. */
  invalidInput?: ToolInputError;
}

export interface ToolRegistry {
  /** Tool names in registration order. */
  names(): string[];
  /** The specs to offer the model, JSON schemas generated from the zod schemas. */
  specs(): ToolSpec[];
  /**
   * Validates and runs one call. Never throws except `ToolInfrastructureError`; when `ctx.signal` aborts
   * it resolves at once with the interrupted error result (the tool cleans up in the background).
   */
  execute(call: ToolCallRequest, ctx: ToolContext): Promise<ToolOutput>;
}

export interface ToolRegistryOptions {
  /** How often the registry calls `ctx.heartbeat()` while a tool runs. Default 5 s. */
  heartbeatIntervalMs?: number;
}

/** The result every interrupted call gets. */
export const INTERRUPTED_RESULT = Object.freeze({ error: 'The tool call was interrupted.' });

/**
 * Builds a registry. Throws (a programming error) on duplicate names or a schema that does not describe a
 * JSON object.
 */
export function buildToolRegistry(tools: AnyToolDefinition[], options: ToolRegistryOptions = {}): ToolRegistry {
  const byName = new Map<string, AnyToolDefinition>();
  for (const tool of tools) {
    if (byName.has(tool.name)) throw new Error(`Duplicate tool name: ${tool.name}`);
    byName.set(tool.name, tool);
  }
  const specs = tools.map((tool) => ({
    name: tool.name,
    description: tool.description,
    inputSchema: toInputSchema(tool),
  }));
  const heartbeatMs = options.heartbeatIntervalMs ?? 5_000;

  return {
    names: () => [...byName.keys()],
    specs: () => specs.map((s) => ({ ...s, inputSchema: structuredClone(s.inputSchema) })),
    async execute(call, ctx) {
      const tool = byName.get(call.name);
      if (!tool) {
        const available = [...byName.keys()].join(', ') || '(none)';
        return toolError(`Tool not found: ${call.name}. Available tools: ${available}.`);
      }
      if (call.invalidInput) {
        return toolError(`${call.invalidInput.message} Call ${call.name} again with its arguments as one JSON object.`);
      }
      const parsed = tool.args.safeParse(call.input);
      if (!parsed.success) {
        const issues = parsed.error.issues.map((issue) => ({
          path: issue.path.map(String).join('.') || '(arguments)',
          message: issue.message,
        }));
        const listed = issues.map((i) => `${i.path}: ${i.message}`).join('; ');
        return toolError(`Invalid arguments for ${call.name}: ${listed}`, { issues });
      }
      if (ctx.signal.aborted) return interrupted();

      const heartbeat = setInterval(() => ctx.heartbeat(), heartbeatMs);
      try {
        const output = await untilAborted(tool.execute(parsed.data, ctx), ctx.signal);
        if (output === ABORTED || ctx.signal.aborted) return interrupted();
        return { result: toJson(output.result), isError: output.isError };
      } catch (err) {
        if (ctx.signal.aborted) return interrupted();
        if (err instanceof ToolInfrastructureError) throw err;
        const message = err instanceof Error ? err.message : String(err);
        return toolError(`${call.name} failed: ${message}`);
      } finally {
        clearInterval(heartbeat);
      }
    },
  };
}

export interface ExecuteToolCallsOptions {
  /** Called as each call finishes (in completion order), to publish results while others still run. */
  onResult?: (result: ModelToolResult, index: number) => void;
  /** Wraps each call's execution (logging and tracing, src/turn/observe.ts); `run` executes the call. */
  observe?: (call: ToolCallRequest, run: () => Promise<ToolOutput>) => Promise<ToolOutput>;
}

/**
 * Runs all `calls` of one step concurrently and returns their results in call order. Each call gets
 * `ctx` with its own `toolCallId`. If any call throws `ToolInfrastructureError`, this waits for the
 * others to settle and then rethrows the first such error.
 */
export async function executeToolCalls(
  registry: ToolRegistry,
  calls: readonly ToolCallRequest[],
  ctx: Omit<ToolContext, 'toolCallId'>,
  options: ExecuteToolCallsOptions = {},
): Promise<ModelToolResult[]> {
  const settled = await Promise.allSettled(
    calls.map(async (call, index) => {
      const run = () => registry.execute(call, { ...ctx, toolCallId: call.id });
      const output = await (options.observe ? options.observe(call, run) : run());
      const result: ModelToolResult = {
        type: 'tool-result',
        id: call.id,
        name: call.name,
        result: output.result,
        isError: output.isError,
      };
      options.onResult?.(result, index);
      return result;
    }),
  );
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) throw failure.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<ModelToolResult>).value);
}

const interrupted = (): ToolOutput => ({ result: { ...INTERRUPTED_RESULT }, isError: true });

const ABORTED: unique symbol = Symbol('aborted');

/** Resolves with the tool's output, or with ABORTED as soon as `signal` aborts, whichever comes first. */
function untilAborted(work: Promise<ToolOutput>, signal: AbortSignal): Promise<ToolOutput | typeof ABORTED> {
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    onAbort = () => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  // The tool may still reject after an abort was reported; that rejection must not go unhandled.
  work.catch(() => undefined);
  return Promise.race([work, aborted]).finally(() => signal.removeEventListener('abort', onAbort!));
}

/** Forces a result into plain JSON (drops undefined, turns Dates into strings); null when absent. */
function toJson(value: unknown): unknown {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value)) as unknown;
}

/** The tool's argument schema as a JSON object schema, without the `$schema` key. */
function toInputSchema(tool: AnyToolDefinition): JsonSchema {
  // `input` mode: fields with defaults are optional for the caller, which is what the model sees.
  const { $schema: _ignored, ...schema } = z.toJSONSchema(tool.args, { io: 'input' }) as JsonSchema;
  if (schema.type !== 'object') throw new Error(`Tool ${tool.name}: the argument schema must describe an object.`);
  return schema;
}

/**
 * The tools of one chat as a turn sees them: the built-in tools plus tools from outside chatd (the
 * chat's MCP servers, docs/mcp.md) behind the `ExternalToolSource` port that src/mcp implements and
 * src/main wires in. The model step offers `specs` and reads `notes` (what is unavailable and why) as a
 * system message; the tool step runs external calls through the same port.
 */
import type { ChatRow } from '../db/database';
import type { ToolSpec } from '../llm/types';
import type { ToolCallRequest, ToolRegistry } from '../tools/registry';
import type { ToolContext, ToolOutput } from '../tools/types';

/** Whether a tool call runs at once (`auto`) or waits for the user's approval (`ask`). */
export type ToolApprovalPolicy = 'auto' | 'ask';

/** The chat fields external tools depend on. */
export type ChatForTools = Pick<ChatRow, 'id' | 'owner_id' | 'parent_chat_id' | 'mcp_server_ids'>;

/** The tools a chat's model step offers. */
export interface ChatToolSet {
  specs: ToolSpec[];
  /** Sentences for the model about tools that are not offered this step (a server is down, needs the user). */
  notes: string[];
  /** The configured policy of an external tool; undefined for built-in tools (and unknown names). */
  approval(name: string): ToolApprovalPolicy | undefined;
}

/** External tools available to one chat right now. */
export interface ExternalToolSet {
  specs: ToolSpec[];
  notes: string[];
  approval(name: string): ToolApprovalPolicy | undefined;
  /**
   * Runs one call. Never throws except `ToolInfrastructureError`: an unknown tool, a server that is down or
   * dies during the call, a timeout and the tool's own failure all become error results. Resolves at once
   * with the interrupted result when `ctx.signal` aborts.
   */
  execute(call: ToolCallRequest, ctx: ToolContext): Promise<ToolOutput>;
}

/** Where external tools come from (src/mcp's catalog). */
export interface ExternalToolSource {
  /** Whether a tool name belongs to this source by its shape, whether or not it is offered now. */
  owns(name: string): boolean;
  /**
   * The chat's external tools. Never throws: sources that fail become notes. With `configGeneration` (read
   * in the step's own statement) the source may reuse what it read at that generation.
   */
  toolsFor(chat: ChatForTools, configGeneration?: number): Promise<ExternalToolSet>;
}

/**
 * The chat's tool set: `builtIn` (the chat's built-in specs, fewer for sub-agents) followed by the external
 * tools. External tools whose names clash with a built-in one are left out.
 */
export async function chatToolSet(
  chat: ChatForTools,
  builtIn: readonly ToolSpec[],
  external: ExternalToolSource | undefined,
  configGeneration?: number,
): Promise<ChatToolSet> {
  const specs = builtIn.map((spec) => ({ ...spec, inputSchema: structuredClone(spec.inputSchema) }));
  if (!external) return { specs, notes: [], approval: () => undefined };
  const tools = await external.toolsFor(chat, configGeneration);
  const taken = new Set(specs.map((s) => s.name));
  const extra = tools.specs.filter((s) => !taken.has(s.name));
  return {
    specs: [...specs, ...extra],
    notes: tools.notes,
    approval: (name) => (taken.has(name) ? undefined : tools.approval(name)),
  };
}

/** The system message carrying a tool set's notes, or null when there are none. */
export function toolNotesText(notes: readonly string[]): string | null {
  if (notes.length === 0) return null;
  return ['<tool-availability>', ...notes.map((n) => `- ${n}`), '</tool-availability>'].join('\n');
}

/**
 * A registry that runs the calls `external` owns through it and every other call through `builtIn`, so a
 * step with built-in and external calls still runs them all concurrently with one `executeToolCalls`.
 */
export function withExternalTools(
  builtIn: ToolRegistry,
  source: ExternalToolSource,
  external: ExternalToolSet,
): ToolRegistry {
  return {
    names: () => [...builtIn.names(), ...external.specs.map((s) => s.name)],
    specs: () => [...builtIn.specs(), ...external.specs],
    execute: (call, ctx) => (source.owns(call.name) ? external.execute(call, ctx) : builtIn.execute(call, ctx)),
  };
}

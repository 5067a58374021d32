/**
 * The tool contract: a name, product-copy description, zod argument schema and an `execute` function that
 * returns a JSON result for the model. Expected failures are results with `isError: true`; only
 * infrastructure faults (worth a retry by Temporal) are thrown, as `ToolInfrastructureError`.
 */
import type { z } from 'zod';
import type { Workspace } from '../workspaces/types';

/** What a tool execution gives back to the model. */
export interface ToolOutput {
  /** JSON-serialisable. An error result is `{ error: '…' }`, possibly with more fields. */
  result: unknown;
  isError: boolean;
}

/** Everything a tool may use while it runs. */
export interface ToolContext {
  chatId: string;
  toolCallId: string;
  /** Aborted on interrupt: a tool stops its work (kills its foreground commands) and returns quickly. */
  signal: AbortSignal;
  /** The chat's connected workspace; null when it has none (or it is not running). */
  workspace: Workspace | null;
  /** Tells Temporal the activity is alive; the registry also heartbeats while a tool runs. */
  heartbeat(): void;
}

/** One tool. `Args` is the parsed (output) type of the `args` schema. */
export interface ToolDefinition<Args> {
  name: string;
  /** Product copy for the model: what it does, when to use it and when not to. */
  description: string;
  /** Must describe a JSON object; it becomes the tool's input schema. */
  args: z.ZodType<Args>;
  /**
   * Runs the tool on validated arguments. Returns an error result for expected failures and throws only
   * `ToolInfrastructureError` (anything else thrown becomes an error result too).
   */
  execute(args: Args, ctx: ToolContext): Promise<ToolOutput>;
}

/** A tool of any argument type, as held in lists and the registry. */

export type AnyToolDefinition = ToolDefinition<any>;

/**
 * A fault outside the model's control (the workspace host is unreachable, the disk is failing) that the
 * caller should retry rather than show to the model. The registry rethrows it; everything else becomes an
 * error result.
 */
export class ToolInfrastructureError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ToolInfrastructureError';
  }
}

/** A successful result. */
export const toolResult = (result: unknown): ToolOutput => ({ result, isError: false });

/** An expected failure, shown to the model as `{ error: message, …extra }`. */
export const toolError = (message: string, extra: Record<string, unknown> = {}): ToolOutput => ({
  result: { error: message, ...extra },
  isError: true,
});

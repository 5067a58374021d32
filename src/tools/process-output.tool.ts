/**
 * The `process_output` tool: the buffered output and state of one of the chat's background processes,
 * optionally waiting for it to exit first. Output is capped at 32 KB like `execute`.
 */
import { z } from 'zod';
import { capProcessOutput, MAX_OUTPUT_BYTES } from './output';
import { processNotFound, processView } from './process-view';
import { toolResult, type ToolDefinition } from './types';
import { workspaceTool } from './workspace-tool';

export const DEFAULT_PROCESS_WAIT_MS = 10_000;
export const MAX_PROCESS_WAIT_MS = 300_000;

export const ProcessOutputArgs = z.object({
  process_id: z.string().min(1).describe('The background_process_id returned by execute.'),
  wait_ms: z
    .number()
    .int()
    .min(0)
    .max(MAX_PROCESS_WAIT_MS)
    .default(DEFAULT_PROCESS_WAIT_MS)
    .describe('Wait up to this long for the process to exit before answering (default 10000; 0 = right away).'),
});
export type ProcessOutputArgs = z.infer<typeof ProcessOutputArgs>;

export interface ProcessOutputOptions {
  /** Output budget of one result. Default 32 KB. */
  maxOutputBytes?: number;
}

/** Creates the `process_output` tool. */
export function createProcessOutputTool(options: ProcessOutputOptions = {}): ToolDefinition<ProcessOutputArgs> {
  const maxBytes = options.maxOutputBytes ?? MAX_OUTPUT_BYTES;
  return workspaceTool({
    name: 'process_output',
    description: [
      'Read the output (stdout and stderr together) and status of a background process started by execute in',
      'this chat. By default it waits up to 10 s for the process to finish; set wait_ms to 0 for a snapshot, or',
      'higher to wait for a build or test run to complete. A process that is still running is not an error.',
      'Use it to check on servers and long jobs; use process_list if you lost the id. Not for foreground',
      'commands: execute already returned their output.',
    ].join(' '),
    args: ProcessOutputArgs,
    async run(args, workspace, ctx) {
      const snapshot =
        args.wait_ms > 0
          ? await workspace.waitProcess(ctx.chatId, args.process_id, { timeoutMs: args.wait_ms, signal: ctx.signal })
          : await workspace.getProcess(ctx.chatId, args.process_id);
      if (!snapshot) return processNotFound(args.process_id);
      const capped = capProcessOutput(snapshot.output, snapshot.outputBytes, maxBytes);
      const notes: string[] = [];
      if (snapshot.status === 'running') {
        notes.push(args.wait_ms > 0 ? `Still running after waiting ${args.wait_ms} ms.` : 'Still running.');
      }
      if (capped.note) notes.push(capped.note);
      return toolResult({
        ...processView(snapshot),
        output: capped.text,
        ...(capped.truncated ? { truncated: true } : {}),
        ...(notes.length ? { note: notes.join(' ') } : {}),
      });
    },
  });
}

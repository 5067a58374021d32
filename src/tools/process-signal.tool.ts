/**
 * The `process_signal` tool: sends a signal to the whole process group of one of the chat's background
 * processes (so a server's workers stop with it). An exited process is reaped: reported one last time and
 * removed from the list.
 */
import { z } from 'zod';
import type { ProcessSignal } from '../workspaces/types';
import { processNotFound, processView } from './process-view';
import { toolResult, type ToolDefinition } from './types';
import { workspaceTool } from './workspace-tool';

const SIGNALS = {
  terminate: 'SIGTERM',
  kill: 'SIGKILL',
  interrupt: 'SIGINT',
  hangup: 'SIGHUP',
} as const satisfies Record<string, ProcessSignal>;

export const ProcessSignalArgs = z.object({
  process_id: z.string().min(1).describe('The background_process_id returned by execute.'),
  signal: z
    .enum(['terminate', 'kill', 'interrupt', 'hangup'])
    .default('terminate')
    .describe('terminate (SIGTERM, default), kill (SIGKILL), interrupt (SIGINT, like Ctrl-C) or hangup (SIGHUP).'),
});
export type ProcessSignalArgs = z.infer<typeof ProcessSignalArgs>;

/** The process tools take no injected functions; the type exists for a uniform factory signature. */
export type ProcessSignalOptions = Record<string, never>;

/** Creates the `process_signal` tool. */
export function createProcessSignalTool(_options: ProcessSignalOptions = {}): ToolDefinition<ProcessSignalArgs> {
  return workspaceTool({
    name: 'process_signal',
    description: [
      'Send a signal to a background process of this chat and to every process it started (its process group).',
      'Use terminate to stop a server or job cleanly, kill if it ignores terminate, interrupt for a Ctrl-C,',
      'hangup to make a daemon reload. It waits briefly for the process to exit and reports its exit status;',
      'exited processes are removed from process_list. Not needed for foreground commands, which end on their own.',
    ].join(' '),
    args: ProcessSignalArgs,
    async run(args, workspace, ctx) {
      const outcome = await workspace.signalProcess(ctx.chatId, args.process_id, SIGNALS[args.signal]);
      if (!outcome) return processNotFound(args.process_id);
      const note = !outcome.signaled
        ? 'The process had already exited; it was removed from the process list.'
        : outcome.reaped
          ? 'The process exited and was removed from the process list.'
          : 'The signal was sent but the process is still running; check again with process_output or send kill.';
      return toolResult({
        ...processView(outcome.process),
        signal_sent: outcome.signaled ? args.signal : null,
        reaped: outcome.reaped,
        note,
      });
    },
  });
}

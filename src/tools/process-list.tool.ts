/**
 * The `process_list` tool: the background processes this chat started in its workspace, running or
 * exited (until reaped), with their exit status.
 */
import { z } from 'zod';
import { processView } from './process-view';
import { toolResult, type ToolDefinition } from './types';
import { workspaceTool } from './workspace-tool';

export const ProcessListArgs = z.object({});
export type ProcessListArgs = z.infer<typeof ProcessListArgs>;

/** The process tools take no injected functions; the type exists for a uniform factory signature. */
export type ProcessListOptions = Record<string, never>;

/** Creates the `process_list` tool. */
export function createProcessListTool(_options: ProcessListOptions = {}): ToolDefinition<ProcessListArgs> {
  return workspaceTool({
    name: 'process_list',
    description: [
      'List the background processes this chat started with execute, with their status and exit codes.',
      'Use it to find a process id you no longer have, or to check what is still running before starting a',
      'second server. Foreground commands and processes of other chats are not listed.',
    ].join(' '),
    args: ProcessListArgs,
    async run(_args, workspace, ctx) {
      const processes = (await workspace.listProcesses(ctx.chatId)).map(processView);
      return toolResult({ processes, count: processes.length });
    },
  });
}

/**
 * The `start_workspace` tool: starts the chat's stopped workspace so the workspace tools work again. A
 * chat without a workspace, or whose workspace was deleted, gets an error result pointing at
 * create_workspace.
 */
import { z } from 'zod';
import type { ChatWorkspaces } from '../workspaces/chat-workspaces';
import { provisioningError, workspaceView } from './create-workspace.tool';
import { toolResult, type ToolDefinition } from './types';

export const StartWorkspaceArgs = z.object({});
export type StartWorkspaceArgs = z.infer<typeof StartWorkspaceArgs>;

export interface StartWorkspaceOptions {
  /** The chat ↔ workspace mapping (or a stand-in with the same method). */
  workspaces: Pick<ChatWorkspaces, 'start'>;
}

/** Creates the `start_workspace` tool. */
export function createStartWorkspaceTool(options: StartWorkspaceOptions): ToolDefinition<StartWorkspaceArgs> {
  const { workspaces } = options;
  return {
    name: 'start_workspace',
    description: [
      "Start this chat's stopped workspace so read_file, write_file, edit_files and execute work in it again.",
      'Files survive a stop; background processes do not, so restart any servers you need afterwards. Use it',
      'when a tool reports that the workspace is stopped or not running; a running workspace is left as it is.',
      'Not for a chat without a workspace or whose workspace was deleted: use create_workspace for those.',
    ].join(' '),
    args: StartWorkspaceArgs,
    async execute(_args, ctx) {
      try {
        const { workspace, wasRunning } = await workspaces.start(ctx.chatId, { signal: ctx.signal });
        return toolResult({ started: true, already_running: wasRunning, ...workspaceView(workspace) });
      } catch (err) {
        return provisioningError(err, 'start_workspace');
      }
    },
  };
}

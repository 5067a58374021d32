/**
 * The `create_workspace` tool: builds a workspace from a template as the chat's owner and attaches it to
 * the chat, so the file and execute tools can act. A chat with a running or stopped workspace is refused
 * (start a stopped one instead); a deleted one is replaced. Also holds the error mapping
 * the provisioning tools share.
 */
import { z } from 'zod';
import { ChatWorkspaceError, type ChatWorkspaces } from '../workspaces/chat-workspaces';
import { WorkspaceError } from '../workspaces/errors';
import type { WorkspaceInfo } from '../workspaces/types';
import { toolError, ToolInfrastructureError, toolResult, type ToolDefinition, type ToolOutput } from './types';

export const CreateWorkspaceArgs = z.object({
  template_id: z.string().trim().min(1).describe('Id of the template to build from, as list_templates returns it.'),
  name: z
    .string()
    .trim()
    .min(1)
    .max(64)
    .optional()
    .describe('Optional short name for the workspace; generated from the template name when omitted.'),
  parameters: z
    .record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String))
    .default({})
    .describe('Template parameter values by parameter name (see read_template). Omit for templates without any.'),
});
export type CreateWorkspaceArgs = z.infer<typeof CreateWorkspaceArgs>;

export interface CreateWorkspaceOptions {
  /** The chat ↔ workspace mapping (or a stand-in with the same two methods). */
  workspaces: Pick<ChatWorkspaces, 'ownerOf' | 'create'>;
}

/** Creates the `create_workspace` tool. */
export function createCreateWorkspaceTool(options: CreateWorkspaceOptions): ToolDefinition<CreateWorkspaceArgs> {
  const { workspaces } = options;
  return {
    name: 'create_workspace',
    description: [
      'Create a workspace for this chat from a template and attach it: afterwards read_file, write_file,',
      'edit_files and execute act in it. Use it when the chat has no workspace (the other tools say so) or its',
      'workspace was deleted. Pick the template with list_templates, and check its parameters with read_template',
      "first. Building can take minutes while the template's setup runs. Do not use it when the chat already has",
      'a workspace: that is refused; start a stopped one with start_workspace instead.',
    ].join(' '),
    args: CreateWorkspaceArgs,
    async execute(args, ctx) {
      try {
        const ownerId = await workspaces.ownerOf(ctx.chatId);
        if (!ownerId) return toolError(`Chat ${ctx.chatId} does not exist.`, { code: 'chat_not_found' });
        const info = await workspaces.create(ctx.chatId, ownerId, args.template_id, args.parameters, {
          name: args.name,
          signal: ctx.signal,
        });
        return toolResult({
          created: true,
          ...workspaceView(info),
          note: 'The workspace is attached to this chat; the file and execute tools now act in it.',
        });
      } catch (err) {
        if (err instanceof ChatWorkspaceError && err.code === 'already_exists' && err.workspace) {
          return toolError(err.message, { code: err.code, created: false, ...workspaceView(err.workspace) });
        }
        return provisioningError(err, 'create_workspace');
      }
    },
  };
}

/** A workspace as the provisioning tools report it. */
export function workspaceView(info: WorkspaceInfo): Record<string, unknown> {
  return {
    workspace_id: info.id,
    workspace_name: info.name,
    template_id: info.templateId,
    status: info.status,
  };
}

/**
 * Maps a failure of a provisioning call to an error result: `ChatWorkspaceError` and `WorkspaceError` are
 * expected and shown with their code; anything else is an infrastructure fault by the provider contract and
 * rethrown as `ToolInfrastructureError`, so the activity is retried.
 */
export function provisioningError(err: unknown, toolName: string): ToolOutput {
  if (err instanceof ChatWorkspaceError || err instanceof WorkspaceError) {
    return toolError(err.message, { code: err.code });
  }
  if (err instanceof ToolInfrastructureError) throw err;
  const message = err instanceof Error ? err.message : String(err);
  throw new ToolInfrastructureError(`${toolName} failed: ${message}`, { cause: err });
}

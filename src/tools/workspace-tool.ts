/**
 * Shared plumbing of the tools that act in a workspace: the "no workspace" answer, and the mapping of
 * path, workspace and file-system errors to error results the model can act on (transient host faults
 * become `ToolInfrastructureError` so Temporal retries them).
 */
import type { z } from 'zod';
import { WorkspaceError, WorkspacePathError } from '../workspaces/errors';
import type { Workspace } from '../workspaces/types';
import { toolError, ToolInfrastructureError, type ToolContext, type ToolDefinition, type ToolOutput } from './types';

/** Errno codes that say the host, not the model's request, is in trouble. */
const INFRASTRUCTURE_CODES = new Set(['EIO', 'EMFILE', 'ENFILE', 'EAGAIN', 'ENOMEM']);

const FS_MESSAGES: Record<string, string> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'has a part that is not a directory',
  EISDIR: 'is a directory',
  EACCES: 'is not accessible (permission denied)',
  EPERM: 'is not accessible (operation not permitted)',
  ELOOP: 'is a symlink loop',
  ENAMETOOLONG: 'is too long',
  ENOSPC: 'cannot be written: the disk is full',
  EROFS: 'is on a read-only file system',
  EFBIG: 'is too large',
};

/**
 * Maps an error thrown while working on `subject` (usually the path the model gave) to an error result.
 * Rethrows `ToolInfrastructureError` for host faults and anything unrecognised.
 */
export function describeWorkspaceError(err: unknown, subject: string): ToolOutput {
  if (err instanceof WorkspacePathError) return toolError(err.message);
  if (err instanceof WorkspaceError) return toolError(err.message, { code: err.code });
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string') {
    if (INFRASTRUCTURE_CODES.has(code)) {
      throw new ToolInfrastructureError(`Workspace file system fault (${code}) on ${subject}`, { cause: err });
    }
    const what = FS_MESSAGES[code];
    if (what) return toolError(`"${subject}" ${what}.`);
  }
  throw err;
}

/** The answer when the chat has no connected workspace. */
export function noWorkspace(toolName: string): ToolOutput {
  return toolError(
    `This chat has no running workspace, so ${toolName} cannot run. ` +
      'Create one with create_workspace (or start a stopped one with start_workspace) and try again.',
  );
}

/** A tool whose `run` needs a workspace; path and file-system errors become error results. */
export function workspaceTool<Args>(definition: {
  name: string;
  description: string;
  args: z.ZodType<Args>;
  /** The subject named in error messages (usually the path argument). */
  subject?: (args: Args) => string;
  run(args: Args, workspace: Workspace, ctx: ToolContext): Promise<ToolOutput>;
}): ToolDefinition<Args> {
  return {
    name: definition.name,
    description: definition.description,
    args: definition.args,
    async execute(args, ctx) {
      if (!ctx.workspace) return noWorkspace(definition.name);
      try {
        return await definition.run(args, ctx.workspace, ctx);
      } catch (err) {
        return describeWorkspaceError(err, definition.subject?.(args) ?? definition.name);
      }
    },
  };
}

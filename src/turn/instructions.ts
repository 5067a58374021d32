/**
 * Instruction files: an `AGENTS.md` at the root of the chat's workspace is read
 * and given to the model as a `<workspace-context>` system block, so a repository can tell the
 * agent how to work in it. Capped at 64 KiB, HTML comments removed, line endings normalised.
 */
import type { Workspace } from '../workspaces/types';

export const MAX_INSTRUCTION_BYTES = 64 * 1024;

export interface InstructionFile {
  path: string;
  content: string;
  truncated: boolean;
}

/** Reads AGENTS.md (any letter case) from the workspace root; null when there is none. */
export async function loadInstructionFile(workspace: Workspace): Promise<InstructionFile | null> {
  const names = await workspace.listDirectory('.').catch(() => [] as string[]);
  const name = names.find((n) => n.toLowerCase() === 'agents.md');
  if (!name) return null;
  const stat = await workspace.stat(name);
  if (stat?.kind !== 'file') return null;
  const bytes = await workspace.readFile(name);
  const truncated = bytes.length > MAX_INSTRUCTION_BYTES;
  // Cut on a UTF-8 boundary: drop continuation bytes at the cut.
  let end = Math.min(bytes.length, MAX_INSTRUCTION_BYTES);
  while (truncated && end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  const content = bytes
    .subarray(0, end)
    .toString('utf8')
    .replace(/\r\n?/g, '\n')
    .replace(/<!--[\s\S]*?-->/g, '')
    .trim();
  return { path: `${workspace.root}/${name}`, content, truncated };
}

/** The system block the model sees. */
export function formatWorkspaceContext(workspace: Workspace, file: InstructionFile | null): string {
  const lines = ['<workspace-context>', `Working directory: ${workspace.root}`];
  if (file && file.content) {
    lines.push(`Instructions from ${file.path}${file.truncated ? ' (truncated)' : ''}:`, file.content);
  }
  lines.push('</workspace-context>');
  return lines.join('\n');
}

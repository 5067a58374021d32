/**
 * The `write_file` tool: creates or overwrites a whole file in the workspace, creating missing parent
 * directories; the write is atomic (temp file + rename).
 */
import { z } from 'zod';
import { toolResult, type ToolDefinition } from './types';
import { workspaceTool } from './workspace-tool';

export const WriteFileArgs = z.object({
  path: z.string().min(1).describe('File path, relative to the workspace root (or absolute inside it).'),
  content: z.string().describe('The complete new content of the file.'),
});
export type WriteFileArgs = z.infer<typeof WriteFileArgs>;

/** write_file takes no injected functions; the type exists for a uniform factory signature. */
export type WriteFileOptions = Record<string, never>;

/** Creates the `write_file` tool. */
export function createWriteFileTool(_options: WriteFileOptions = {}): ToolDefinition<WriteFileArgs> {
  return workspaceTool({
    name: 'write_file',
    description: [
      "Create a file, or replace a file's entire content, in the workspace. Missing parent directories are",
      'created. Use it for new files and for complete rewrites of small files. To change part of an existing',
      'file use edit_files instead: it is safer and sends far less text. Paths outside the workspace are refused.',
    ].join(' '),
    args: WriteFileArgs,
    subject: (args) => args.path,
    async run(args, workspace) {
      await workspace.writeFile(args.path, args.content);
      return toolResult({ ok: true, path: args.path, bytes: Buffer.byteLength(args.content) });
    },
  });
}

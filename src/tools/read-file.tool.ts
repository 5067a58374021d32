/**
 * The `read_file` tool: a window of a text file with line numbers (offset/limit in lines), capped at
 * 32 KB on whole lines where possible; a directory gives its listing.
 */
import { z } from 'zod';
import { capOutput, MAX_OUTPUT_BYTES } from './output';
import { toolError, toolResult, type ToolDefinition } from './types';
import { workspaceTool } from './workspace-tool';

export const DEFAULT_READ_LIMIT = 2_000;

export const ReadFileArgs = z.object({
  path: z.string().min(1).describe('File path, relative to the workspace root (or absolute inside it).'),
  offset: z.number().int().min(1).default(1).describe('First line to read, 1-based (default 1).'),
  limit: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(DEFAULT_READ_LIMIT)
    .describe('Maximum lines to read (default 2000).'),
});
export type ReadFileArgs = z.infer<typeof ReadFileArgs>;

export interface ReadFileOptions {
  /** Output budget of one result. Default 32 KB. */
  maxOutputBytes?: number;
  /** Larger files are refused (read them in slices with execute). Default 16 MiB. */
  maxFileBytes?: number;
}

/** Creates the `read_file` tool. */
export function createReadFileTool(options: ReadFileOptions = {}): ToolDefinition<ReadFileArgs> {
  const maxBytes = options.maxOutputBytes ?? MAX_OUTPUT_BYTES;
  const maxFileBytes = options.maxFileBytes ?? 16 * 1024 * 1024;
  return workspaceTool({
    name: 'read_file',
    description: [
      'Read a text file from the workspace. Lines come back numbered ("  12\\tcode"); the numbers and the tab are',
      'not part of the file, so leave them out when you quote text to edit_files. Reads up to 2000 lines from',
      'offset (1-based) and at most 32 KB; when there is more, the result says which offset to continue from.',
      'Given a directory it lists the entries. Use it instead of cat, head or sed in execute; search across',
      'many files with rg or grep in execute instead of reading them one by one.',
    ].join(' '),
    args: ReadFileArgs,
    subject: (args) => args.path,
    async run(args, workspace) {
      const info = await workspace.stat(args.path);
      if (!info) return toolError(`File not found: "${args.path}".`);
      if (info.kind === 'directory') {
        const entries = await workspace.listDirectory(args.path);
        const capped = capOutput(entries.join('\n'), { maxBytes, keep: 'head' });
        return toolResult({
          path: args.path,
          type: 'directory',
          entries: capped.text === '' ? [] : capped.text.split('\n'),
          count: entries.length,
          ...(capped.truncated
            ? { truncated: true, note: 'The listing was truncated; use execute with find or ls.' }
            : {}),
        });
      }
      if (info.kind !== 'file') return toolError(`"${args.path}" is not a regular file.`);
      if (info.size > maxFileBytes) {
        return toolError(
          `"${args.path}" is ${info.size} bytes, too large for read_file (limit ${maxFileBytes}). ` +
            "Read a slice with execute, for example sed -n '100,200p'.",
        );
      }
      const bytes = await workspace.readFile(args.path);
      if (bytes.subarray(0, 8_000).includes(0)) {
        return toolError(`"${args.path}" looks like a binary file (${bytes.length} bytes); read_file shows text only.`);
      }
      return toolResult(window(args, bytes, maxBytes));
    },
  });
}

function window(args: ReadFileArgs, bytes: Buffer, maxBytes: number): Record<string, unknown> {
  const text = bytes.toString('utf8');
  const lines = text === '' ? [] : text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const total = lines.length;
  if (args.offset > Math.max(total, 1)) {
    return {
      path: args.path,
      content: '',
      file_size: bytes.length,
      total_lines: total,
      lines_read: 0,
      note: `offset ${args.offset} is past the end of the file (${total} lines).`,
    };
  }
  const last = Math.min(total, args.offset - 1 + args.limit);
  const width = String(last).length;
  const out: string[] = [];
  let used = 0;
  let truncatedLine = false;
  for (let n = args.offset; n <= last; n++) {
    let line = `${String(n).padStart(width)}\t${lines[n - 1]!.replace(/\r$/, '')}`;
    const size = Buffer.byteLength(line) + 1;
    if (used + size > maxBytes) {
      if (out.length > 0) break;
      // A single line longer than the whole budget: show its start.
      line = capOutput(line, { maxBytes: maxBytes - 1, keep: 'head' }).text;
      truncatedLine = true;
    }
    out.push(line);
    used += Buffer.byteLength(line) + 1;
  }
  const lastShown = args.offset + out.length - 1;
  const notes: string[] = [];
  if (truncatedLine) notes.push(`Line ${args.offset} is longer than ${maxBytes} bytes and was cut.`);
  if (lastShown < total)
    notes.push(`Showing lines ${args.offset}-${lastShown} of ${total}. Continue with offset=${lastShown + 1}.`);
  return {
    path: args.path,
    content: out.join('\n'),
    file_size: bytes.length,
    total_lines: total,
    lines_read: out.length,
    ...(notes.length ? { truncated: true, note: notes.join(' ') } : {}),
  };
}

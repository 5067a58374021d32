/**
 * The `edit_files` tool: exact-text replacements in one or more existing files. Every edit of every file
 * is checked first (the old text must occur, exactly once unless `replace_all`); only when all of them
 * apply is anything written, and then all files are staged before any is replaced.
 */
import { z } from 'zod';
import type { Workspace } from '../workspaces/types';
import { toolError, toolResult, type ToolDefinition, type ToolOutput } from './types';
import { describeWorkspaceError, workspaceTool } from './workspace-tool';

export const EditFilesArgs = z.object({
  files: z
    .array(
      z.object({
        path: z.string().min(1).describe('File path, relative to the workspace root (or absolute inside it).'),
        edits: z
          .array(
            z.object({
              old: z.string().min(1, 'old must not be empty').describe('Exact text to replace, including whitespace.'),
              new: z.string().describe('Replacement text.'),
              replace_all: z.boolean().default(false).describe('Replace every occurrence instead of exactly one.'),
            }),
          )
          .min(1, 'each file needs at least one edit'),
      }),
    )
    .min(1, 'files is required'),
});
export type EditFilesArgs = z.infer<typeof EditFilesArgs>;

/** edit_files takes no injected functions; the type exists for a uniform factory signature. */
export type EditFilesOptions = Record<string, never>;

interface PlannedFile {
  path: string;
  original: string;
  content: string;
  edits: number;
  replacements: number;
}

/** Creates the `edit_files` tool. */
export function createEditFilesTool(_options: EditFilesOptions = {}): ToolDefinition<EditFilesArgs> {
  return workspaceTool({
    name: 'edit_files',
    description: [
      'Change existing files by replacing exact text: each edit gives the old text (copied exactly from the file,',
      "whitespace included, without read_file's line numbers) and the new text. old must occur exactly once;",
      'include a few surrounding lines to make it unique, or set replace_all to change every occurrence. Edits',
      'of a file apply in order, and several files can change in one call. If any edit does not apply, nothing',
      'is written and the error says which edit failed. Read the file first. To create a file or rewrite one',
      'completely use write_file.',
    ].join(' '),
    args: EditFilesArgs,
    async run(args, workspace) {
      const planned = new Map<string, PlannedFile>();
      const problems: string[] = [];
      for (const file of args.files) {
        const loaded = await load(workspace, file.path, planned);
        if ('isError' in loaded) {
          problems.push(errorText(loaded));
          continue;
        }
        file.edits.forEach((edit, index) => {
          const problem = applyEdit(loaded, edit);
          if (problem) problems.push(`${file.path}: edit ${index + 1}: ${problem}`);
        });
      }
      if (problems.length > 0) return toolError(`No files were changed. ${problems.join(' ')}`, { problems });

      const changed = [...planned.entries()].filter(([, f]) => f.content !== f.original);
      await workspace.writeFiles(changed.map(([resolved, f]) => ({ path: resolved, content: f.content })));
      return toolResult({
        ok: true,
        files: [...planned.values()].map((f) => ({ path: f.path, edits: f.edits, replacements: f.replacements })),
      });
    },
  });
}

/** Reads a file once per real path (the same file named twice gets its edits in sequence). */
async function load(
  workspace: Workspace,
  path: string,
  planned: Map<string, PlannedFile>,
): Promise<PlannedFile | ToolOutput> {
  try {
    const resolved = await workspace.resolvePath(path);
    const existing = planned.get(resolved);
    if (existing) return existing;
    const info = await workspace.stat(resolved);
    if (!info) return toolError(`${path}: the file does not exist (use write_file to create it).`);
    if (info.kind !== 'file') return toolError(`${path}: not a regular file.`);
    const bytes = await workspace.readFile(resolved);
    if (bytes.subarray(0, 8_000).includes(0)) return toolError(`${path}: binary files cannot be edited.`);
    const text = bytes.toString('utf8');
    const file: PlannedFile = { path, original: text, content: text, edits: 0, replacements: 0 };
    planned.set(resolved, file);
    return file;
  } catch (err) {
    return describeWorkspaceError(err, path);
  }
}

/** Applies one edit to `file.content` in memory; returns why it cannot apply, if it cannot. */
function applyEdit(file: PlannedFile, edit: EditFilesArgs['files'][number]['edits'][number]): string | null {
  let { old, new: replacement } = edit;
  let count = occurrences(file.content, old);
  // Models write "\n"; a file with Windows line endings has "\r\n". Match it the way the file spells it.
  if (count === 0 && file.content.includes('\r\n') && old.includes('\n')) {
    old = old.replace(/\r?\n/g, '\r\n');
    replacement = replacement.replace(/\r?\n/g, '\r\n');
    count = occurrences(file.content, old);
  }
  if (count === 0) return 'the old text was not found (it must match exactly, including whitespace and indentation).';
  if (count > 1 && !edit.replace_all) {
    return `the old text occurs ${count} times; add surrounding lines to make it unique, or set replace_all.`;
  }
  // split/join, not String.replace: the replacement must not interpret `$&` and friends.
  file.content = edit.replace_all
    ? file.content.split(old).join(replacement)
    : (() => {
        const at = file.content.indexOf(old);
        return file.content.slice(0, at) + replacement + file.content.slice(at + old.length);
      })();
  file.edits += 1;
  file.replacements += edit.replace_all ? count : 1;
  return null;
}

function occurrences(haystack: string, needle: string): number {
  let count = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) count++;
  return count;
}

function errorText(output: ToolOutput): string {
  const result = output.result as { error?: unknown };
  return typeof result.error === 'string' ? result.error : 'the file could not be read.';
}

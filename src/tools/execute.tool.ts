/**
 * The `execute` tool: runs a shell command in the workspace, in the foreground with a timeout (the whole
 * process group is killed when it elapses, or on interrupt) or in the background as a tracked process. A
 * command ending in a lone `&` is promoted to a background run. Output is capped at 32 KB.
 */
import { z } from 'zod';
import { capProcessOutput, MAX_OUTPUT_BYTES } from './output';
import { describeSandbox, limitNote } from './sandbox-report';
import { toolError, toolResult, type ToolDefinition } from './types';
import { workspaceTool } from './workspace-tool';

export const DEFAULT_EXECUTE_TIMEOUT_MS = 60_000;
export const MAX_EXECUTE_TIMEOUT_MS = 600_000;

export const ExecuteArgs = z.object({
  command: z.string().min(1, 'command must not be empty').describe('The shell command to run (bash -c).'),
  timeout_ms: z
    .number()
    .int()
    .min(1)
    .max(MAX_EXECUTE_TIMEOUT_MS)
    .default(DEFAULT_EXECUTE_TIMEOUT_MS)
    .describe('Foreground time limit in milliseconds (default 60000, at most 600000). Ignored in the background.'),
  workdir: z.string().optional().describe('Working directory, relative to the workspace root. Default: the root.'),
  run_in_background: z
    .boolean()
    .default(false)
    .describe('Start the command and return at once with a process id, for servers, watchers and long builds.'),
});
export type ExecuteArgs = z.infer<typeof ExecuteArgs>;

export interface ExecuteOptions {
  /** Output budget of one result. Default 32 KB. */
  maxOutputBytes?: number;
}

/**
 * Splits a trailing background `&` off a command: `npm run dev &` → background `npm run dev`. `&&`, `|&`,
 * `>&`, `<&` and an escaped `\&` are not a background request.
 */
export function promoteTrailingAmpersand(command: string): { command: string; background: boolean } {
  const trimmed = command.trimEnd();
  if (!trimmed.endsWith('&')) return { command, background: false };
  const before = trimmed.slice(0, -1);
  if (/[&|\\<>]$/.test(before)) return { command, background: false };
  const rest = before.trimEnd();
  return rest === '' ? { command, background: false } : { command: rest, background: true };
}

const FILE_DUMP = /^\s*(cat|head|tail|less|more)\s+[^|;&<>]+$/;

/** Creates the `execute` tool. */
export function createExecuteTool(options: ExecuteOptions = {}): ToolDefinition<ExecuteArgs> {
  const maxBytes = options.maxOutputBytes ?? MAX_OUTPUT_BYTES;
  return workspaceTool({
    name: 'execute',
    description: [
      'Run a shell command (bash) in the workspace and get its combined stdout/stderr and exit code.',
      'Use it to build, test, run git, install dependencies, search the tree (rg, find) and start servers.',
      'Commands are non-interactive: stdin is closed and no editor, pager or password prompt will appear, so',
      'pass flags such as --yes or -m "message" instead. A foreground command is killed, with everything it',
      'started, when timeout_ms elapses (default 60 s, at most 10 min) or when the user interrupts; anything',
      'it leaves running when it finishes is stopped too. For servers, watchers or jobs that outlive the call,',
      'set run_in_background (or end the command with " &") and follow up with process_output, process_list',
      'and process_signal. Output over 32 KB is cut in the middle; redirect it to a file and read_file it.',
      'Do not use it to read, create or edit files: read_file, write_file and edit_files do that better.',
    ].join(' '),
    args: ExecuteArgs,
    subject: (args) => args.workdir ?? 'the working directory',
    async run(args, workspace, ctx) {
      const promoted = promoteTrailingAmpersand(args.command);
      if (args.run_in_background || promoted.background) {
        const started = await workspace.startProcess({
          command: promoted.command,
          cwd: args.workdir,
          owner: ctx.chatId,
        });
        return toolResult({
          success: true,
          background_process_id: started.id,
          note:
            (promoted.background && !args.run_in_background
              ? 'The trailing "&" started the command in the background. '
              : '') + 'Use process_output with this id to see its output, and process_signal to stop it.',
        });
      }

      const run = await workspace.exec({
        command: args.command,
        cwd: args.workdir,
        timeoutMs: args.timeout_ms,
        signal: ctx.signal,
      });
      const capped = capProcessOutput(run.output, run.outputBytes, maxBytes);
      const notes: string[] = [];
      if (capped.note) notes.push(`${capped.note} Redirect long output to a file and page through it with read_file.`);
      const limit = limitNote(run);
      if (limit) notes.push(limit);
      const base = {
        output: capped.text,
        exit_code: run.exitCode,
        ...(run.signal ? { signal: run.signal } : {}),
        wall_duration_ms: run.durationMs,
        ...(capped.truncated ? { truncated: true } : {}),
        sandbox: run.sandbox ? describeSandbox(run.sandbox) : 'off (commands run unsandboxed on the host)',
      };
      if (run.aborted) return toolError('The tool call was interrupted.', base);
      if (run.timedOut) {
        return toolError(
          `Command timed out after ${args.timeout_ms} ms; it was stopped together with every process it started. ` +
            'The output so far is included. Raise timeout_ms (at most 600000) or use run_in_background.',
          { success: false, ...base, ...(notes.length ? { note: notes.join(' ') } : {}) },
        );
      }
      if (run.exitCode === 127 && /not found/.test(run.output)) {
        notes.push('Exit code 127 means a program was not found: check its name, PATH, or install it first.');
      }
      if (FILE_DUMP.test(args.command)) {
        notes.push('To read files prefer read_file: it numbers lines and pages through large files.');
      }
      return toolResult({ success: run.exitCode === 0, ...base, ...(notes.length ? { note: notes.join(' ') } : {}) });
    },
  });
}

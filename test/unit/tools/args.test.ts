/**
 * The workspace tools' argument schemas and the `execute` background promotion: defaults and limits the
 * model relies on, and which trailing "&" means "run in the background".
 */
import { createWorkspaceTools, WORKSPACE_TOOL_NAMES } from '../../../src/tools';
import { EditFilesArgs } from '../../../src/tools/edit-files.tool';
import { ExecuteArgs, promoteTrailingAmpersand } from '../../../src/tools/execute.tool';
import { ProcessOutputArgs } from '../../../src/tools/process-output.tool';
import { ProcessSignalArgs } from '../../../src/tools/process-signal.tool';
import { ReadFileArgs } from '../../../src/tools/read-file.tool';
import { buildToolRegistry } from '../../../src/tools/registry';

describe('promoteTrailingAmpersand', () => {
  it.each([
    ['npm run dev &', { command: 'npm run dev', background: true }],
    ['python -m http.server 8000&  ', { command: 'python -m http.server 8000', background: true }],
    ['make && make test', { command: 'make && make test', background: false }],
    ['make &&', { command: 'make &&', background: false }],
    ['build |&', { command: 'build |&', background: false }],
    ['echo \\&', { command: 'echo \\&', background: false }],
    ['cmd >&', { command: 'cmd >&', background: false }],
    ['&', { command: '&', background: false }],
    ['echo hi', { command: 'echo hi', background: false }],
  ])('%j', (input, expected) => {
    expect(promoteTrailingAmpersand(input)).toEqual(expected);
  });
});

describe('argument schemas', () => {
  it('execute: 60 s default timeout, at most 10 minutes, foreground by default', () => {
    expect(ExecuteArgs.parse({ command: 'ls' })).toEqual({
      command: 'ls',
      timeout_ms: 60_000,
      run_in_background: false,
    });
    expect(ExecuteArgs.safeParse({ command: 'ls', timeout_ms: 600_001 }).success).toBe(false);
    expect(ExecuteArgs.safeParse({ command: '' }).success).toBe(false);
  });

  it('read_file: offset 1 and limit 2000 by default; offset is 1-based', () => {
    expect(ReadFileArgs.parse({ path: 'a' })).toEqual({ path: 'a', offset: 1, limit: 2_000 });
    expect(ReadFileArgs.safeParse({ path: 'a', offset: 0 }).success).toBe(false);
  });

  it('process_output waits 10 s by default; process_signal terminates by default', () => {
    expect(ProcessOutputArgs.parse({ process_id: 'p' })).toEqual({ process_id: 'p', wait_ms: 10_000 });
    expect(ProcessSignalArgs.parse({ process_id: 'p' })).toEqual({ process_id: 'p', signal: 'terminate' });
    expect(ProcessSignalArgs.safeParse({ process_id: 'p', signal: 'SIGSTOP' }).success).toBe(false);
  });

  it('edit_files: needs files, edits and a non-empty old text; replace_all defaults to false', () => {
    expect(EditFilesArgs.parse({ files: [{ path: 'a', edits: [{ old: 'x', new: '' }] }] })).toEqual({
      files: [{ path: 'a', edits: [{ old: 'x', new: '', replace_all: false }] }],
    });
    expect(EditFilesArgs.safeParse({ files: [] }).success).toBe(false);
    expect(EditFilesArgs.safeParse({ files: [{ path: 'a', edits: [] }] }).success).toBe(false);
    expect(EditFilesArgs.safeParse({ files: [{ path: 'a', edits: [{ old: '', new: 'x' }] }] }).success).toBe(false);
  });
});

describe('createWorkspaceTools', () => {
  it('offers the seven workspace tools with object schemas and descriptions saying when not to use them', () => {
    const specs = buildToolRegistry(createWorkspaceTools()).specs();
    expect(specs.map((s) => s.name)).toEqual([...WORKSPACE_TOOL_NAMES]);
    for (const spec of specs) {
      expect(spec.inputSchema.type).toBe('object');
      expect(spec.inputSchema).not.toHaveProperty('$schema');
      expect(spec.description.length).toBeGreaterThan(150);
      expect(spec.description).toMatch(/\b(not|instead)\b/i);
    }
  });
});

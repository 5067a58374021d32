/**
 * The workspace diff script (src/workspaces/git-diff.ts) against real git repositories. Commands run
 * through a minimal `Workspace` whose `exec` spawns the shell in the repository directly (the
 * sandbox is not what is under test here): renames, binary and untracked files, odd file names, the
 * empty repository, a repository above the workspace root, and the user's index left untouched.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { computeWorkspaceDiff, MAX_DIFF_BYTES } from '../../../src/workspaces/git-diff';
import type { ExecOptions, ExecResult, Workspace } from '../../../src/workspaces/types';

/** A workspace at `root` whose commands run unsandboxed with bash. */
function shellWorkspace(root: string): Workspace {
  return {
    id: 'test',
    root,
    exec: (options: ExecOptions) =>
      new Promise<ExecResult>((resolve) => {
        const started = Date.now();
        execFile(
          '/bin/bash',
          ['-c', options.command],
          { cwd: root, timeout: options.timeoutMs, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' },
          (err, stdout) => {
            const code = (err as { code?: unknown } | null)?.code;
            resolve({
              exitCode: err ? (typeof code === 'number' ? code : null) : 0,
              signal: null,
              output: stdout,
              outputBytes: Buffer.byteLength(stdout),
              timedOut: false,
              aborted: false,
              durationMs: Date.now() - started,
              // Other fields (how a provider isolated the command) are not read by the diff.
            } as ExecResult);
          },
        );
      }),
  } as unknown as Workspace;
}

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'user.email=t@t', '-c', 'user.name=t', ...args], { cwd, encoding: 'utf8' });

describe('computeWorkspaceDiff on real repositories', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'chatd-diff-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports changes, renames, binary and untracked files without touching the index', async () => {
    git(dir, 'init', '-q', '.');
    await writeFile(path.join(dir, 'keep.txt'), 'a\nb\n');
    await writeFile(path.join(dir, 'move me.txt'), 'one\ntwo\nthree\nfour\n');
    await writeFile(path.join(dir, 'gone.txt'), 'x\n');
    git(dir, 'add', '.');
    git(dir, 'commit', '-qm', 'init');
    await writeFile(path.join(dir, 'keep.txt'), 'a\nB\nc\n');
    git(dir, 'mv', 'move me.txt', 'moved\ttab.txt');
    await rm(path.join(dir, 'gone.txt'));
    await writeFile(path.join(dir, 'new\nline ünï.txt'), 'n\n');
    await writeFile(path.join(dir, ':(glob)*'), 'pathspec magic\n');
    await writeFile(path.join(dir, 'bin.dat'), Buffer.from([0, 1, 2, 0, 255]));
    await writeFile(path.join(dir, '.gitignore'), '*.log\n');
    await writeFile(path.join(dir, 'ignored.log'), 'ignored\n');
    const indexBefore = await readFile(path.join(dir, '.git', 'index'));
    const statusBefore = git(dir, 'status', '--porcelain');

    const diff = await computeWorkspaceDiff(shellWorkspace(dir));
    const byPath = Object.fromEntries(diff.files.map((f) => [f.path, f]));
    expect(Object.keys(byPath).sort()).toEqual(
      ['.gitignore', ':(glob)*', 'bin.dat', 'gone.txt', 'keep.txt', 'moved\ttab.txt', 'new\nline ünï.txt'].sort(),
    );
    expect(byPath['keep.txt']).toEqual({ path: 'keep.txt', status: 'modified', additions: 2, deletions: 1 });
    expect(byPath['moved\ttab.txt']).toMatchObject({ status: 'renamed', old_path: 'move me.txt' });
    expect(byPath['gone.txt']).toMatchObject({ status: 'deleted', deletions: 1 });
    expect(byPath['new\nline ünï.txt']).toMatchObject({ status: 'added', additions: 1 });
    expect(byPath[':(glob)*']).toMatchObject({ status: 'added', additions: 1 });
    expect(byPath['bin.dat']).toMatchObject({ status: 'added', binary: true, additions: 0 });
    expect(diff.diff).toContain('+B\n');
    expect(diff.diff).not.toContain('ignored');
    expect(diff.truncated).toBe(false);

    // The user's index and status are exactly as before; no temp files are left behind.
    expect(await readFile(path.join(dir, '.git', 'index'))).toEqual(indexBefore);
    expect(git(dir, 'status', '--porcelain')).toBe(statusBefore);
  });

  it('diffs a repository without commits against the empty tree', async () => {
    git(dir, 'init', '-q', '.');
    await writeFile(path.join(dir, 'a.txt'), '1\n2\n3\n');
    const diff = await computeWorkspaceDiff(shellWorkspace(dir));
    expect(diff).toMatchObject({
      gitRepository: true,
      files: [{ path: 'a.txt', status: 'added', additions: 3, deletions: 0 }],
      additions: 3,
    });
  });

  it('never looks at a repository above the workspace root', async () => {
    git(dir, 'init', '-q', '.');
    await writeFile(path.join(dir, 'outer.txt'), 'outer\n');
    const root = path.join(dir, 'workspace');
    await mkdir(root);
    await writeFile(path.join(root, 'inner.txt'), 'inner\n');
    expect(await computeWorkspaceDiff(shellWorkspace(root))).toMatchObject({ gitRepository: false, files: [] });
  });

  it('cuts a large diff at the cap and flags it', async () => {
    git(dir, 'init', '-q', '.');
    await writeFile(path.join(dir, 'big.txt'), 'line of text\n'.repeat(Math.ceil((MAX_DIFF_BYTES * 2) / 13)));
    const diff = await computeWorkspaceDiff(shellWorkspace(dir));
    expect(diff.truncated).toBe(true);
    expect(Buffer.byteLength(diff.diff)).toBeLessThanOrEqual(MAX_DIFF_BYTES);
    expect(diff.diff.endsWith('+line of text\n')).toBe(true);
    expect(diff.files[0]).toMatchObject({ path: 'big.txt', additions: Math.ceil((MAX_DIFF_BYTES * 2) / 13) });
  });
});

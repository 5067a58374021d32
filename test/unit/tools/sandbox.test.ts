/**
 * Command launching (src/workspaces/sandbox.ts): the bubblewrap argument vector (the sandbox must keep
 * the command in the provider's process group, expose the workspace read-write at its own path and the
 * system read-only) and the non-interactive environment. Pure: runs without bwrap installed.
 */
import {
  buildBwrapArgs,
  buildCommandEnv,
  buildLaunch,
  DEFAULT_PATH,
  NON_INTERACTIVE_ENV,
  type BwrapPlan,
} from '../../../src/workspaces/sandbox';

const plan: BwrapPlan = {
  root: '/srv/ws/abc',
  home: '/srv/ws/.chatd/home/abc',
  cwd: '/srv/ws/abc/src',
  shell: '/bin/bash',
  command: 'npm test -- --watch=false',
};

/** The values following each occurrence of `flag` in `args` (`arity` values per occurrence). */
function valuesOf(args: string[], flag: string, arity: number): string[][] {
  const out: string[][] = [];
  const end = args.indexOf('--');
  args.slice(0, end).forEach((a, i) => {
    if (a === flag) out.push(args.slice(i + 1, i + 1 + arity));
  });
  return out;
}

describe('buildBwrapArgs', () => {
  const args = buildBwrapArgs(plan);

  it('ends with the shell running the command verbatim after "--"', () => {
    expect(args.slice(-4)).toEqual(['--', '/bin/bash', '-c', 'npm test -- --watch=false']);
  });

  it('binds the workspace root and home read-write at their own paths, and chdirs to cwd', () => {
    expect(valuesOf(args, '--bind', 2)).toEqual([
      [plan.home, plan.home],
      [plan.root, plan.root],
    ]);
    expect(valuesOf(args, '--chdir', 1)).toEqual([[plan.cwd]]);
  });

  it('shows the system read-only but not home directories', () => {
    const readOnly = valuesOf(args, '--ro-bind-try', 2).map(([src]) => src);
    expect(readOnly).toEqual(expect.arrayContaining(['/usr', '/bin', '/lib', '/etc']));
    expect(readOnly).not.toContain('/home');
    expect(readOnly).not.toContain('/root');
    expect(readOnly).not.toContain('/');
    expect(valuesOf(args, '--tmpfs', 1)).toEqual([['/tmp']]);
  });

  // --new-session would move the command out of the process group the provider signals on timeout.
  it("unshares namespaces, dies with the worker and stays in the caller's process group", () => {
    expect(args).toContain('--unshare-all');
    expect(args).toContain('--die-with-parent');
    expect(args).not.toContain('--new-session');
  });

  it('shares the network unless disabled, and adds extra read-only paths', () => {
    expect(args).toContain('--share-net');
    const isolated = buildBwrapArgs({ ...plan, network: false, readOnlyPaths: ['/opt/toolchain'] });
    expect(isolated).not.toContain('--share-net');
    expect(valuesOf(isolated, '--ro-bind-try', 2)).toContainEqual(['/opt/toolchain', '/opt/toolchain']);
  });
});

describe('buildLaunch', () => {
  it('runs the shell directly without bwrap, and bwrap with its arguments otherwise', () => {
    expect(buildLaunch(plan, null)).toEqual({ file: '/bin/bash', args: ['-c', plan.command] });
    expect(buildLaunch(plan, '/usr/bin/bwrap')).toEqual({ file: '/usr/bin/bwrap', args: buildBwrapArgs(plan) });
  });
});

describe('buildCommandEnv', () => {
  it('starts from the injected base, sets HOME, and forces the non-interactive variables', () => {
    const env = buildCommandEnv({ PATH: '/custom/bin', PAGER: 'less', EXTRA: '1' }, '/home/ws');
    expect(env).toMatchObject({ PATH: '/custom/bin', EXTRA: '1', HOME: '/home/ws', ...NON_INTERACTIVE_ENV });
    expect(env.PAGER).toBe('cat');
    expect(env).toMatchObject({ GIT_TERMINAL_PROMPT: '0', TERM: 'dumb', GIT_EDITOR: 'true', NO_COLOR: '1' });
  });

  it('falls back to the system PATH and contains nothing it was not given', () => {
    const env = buildCommandEnv({}, '/h');
    expect(env.PATH).toBe(DEFAULT_PATH);
    expect(Object.keys(env).sort()).toEqual(['HOME', 'LANG', 'PATH', ...Object.keys(NON_INTERACTIVE_ENV)].sort());
  });
});

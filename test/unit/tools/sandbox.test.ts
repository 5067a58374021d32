/**
 * Command launching (src/workspaces/sandbox.ts): the holder's and each command's argument vectors (every
 * command joins the holder's network namespace, runs unprivileged with rlimits, sees the system
 * read-only and only its workspace and home writable, and stays in the provider's process group) and the
 * non-interactive environment. Pure: the real sandbox is exercised by the activity tests.
 */
import {
  buildCommandArgs,
  buildCommandEnv,
  buildHolderArgs,
  DEFAULT_LIMITS,
  DEFAULT_PATH,
  NON_INTERACTIVE_ENV,
  type CommandPlan,
} from '../../../src/workspaces/sandbox';

const plan: CommandPlan = {
  root: '/srv/ws/abc',
  home: '/srv/ws/.chatd/home/abc',
  cwd: '/srv/ws/abc/src',
  shell: '/bin/bash',
  command: 'npm test -- --watch=false',
  readOnlyPaths: [],
  limits: { ...DEFAULT_LIMITS, processes: 64, memoryMb: 512, fileSizeMb: 10, cpuSeconds: 30 },
  shared: { holderPid: 4242, uid: 200_123 },
  tools: {
    bwrap: '/usr/bin/bwrap',
    nsenter: '/usr/bin/nsenter',
    prlimit: '/usr/bin/prlimit',
    setpriv: '/usr/bin/setpriv',
    socat: null,
  },
};

/** The values following each occurrence of `flag` in `args` (`arity` values per occurrence). */
function valuesOf(args: string[], flag: string, arity: number): string[][] {
  const out: string[][] = [];
  args.forEach((a, i) => {
    if (a === flag) out.push(args.slice(i + 1, i + 1 + arity));
  });
  return out;
}

describe('buildCommandArgs', () => {
  const args = buildCommandArgs(plan);
  const bwrap = args.slice(args.indexOf('/usr/bin/bwrap') + 1, args.lastIndexOf('--'));

  it('ends with the shell running the command verbatim after the last "--"', () => {
    expect(args.slice(-4)).toEqual(['--', '/bin/bash', '-c', 'npm test -- --watch=false']);
  });

  it('applies the rlimits first, joins the holder, drops to the workspace uid, then starts bubblewrap', () => {
    const prlimit = args.slice(0, args.indexOf('--'));
    expect(prlimit).toEqual([
      '--nproc=64',
      `--as=${512 * 1024 * 1024}`,
      `--fsize=${10 * 1024 * 1024}`,
      '--cpu=30',
      `--nofile=${DEFAULT_LIMITS.openFiles}`,
      '--core=0',
    ]);
    expect(args).toContain('--net=/proc/4242/ns/net');
    expect(args).toEqual(expect.arrayContaining(['--reuid=200123', '--regid=200123', '--clear-groups']));
    expect(args.indexOf('/usr/bin/nsenter')).toBeLessThan(args.indexOf('/usr/bin/setpriv'));
    expect(args.indexOf('/usr/bin/setpriv')).toBeLessThan(args.indexOf('/usr/bin/bwrap'));
  });

  it('without a holder (worker not root), gets a network namespace of its own and keeps the uid', () => {
    const alone = buildCommandArgs({ ...plan, shared: null });
    expect(alone).toContain('--unshare-net');
    expect(alone).not.toContain('/usr/bin/nsenter');
    expect(alone).not.toContain('/usr/bin/setpriv');
  });

  it('runs unprivileged in its own namespaces, with no capabilities and no further user namespaces', () => {
    expect(bwrap).toEqual(expect.arrayContaining(['--unshare-user', '--unshare-pid', '--disable-userns']));
    expect(valuesOf(bwrap, '--cap-drop', 1)).toEqual([['ALL']]);
    expect(valuesOf(bwrap, '--uid', 1)).toEqual([['1000']]);
    // The network namespace is the holder's: a command must not share the host's.
    expect(bwrap).not.toContain('--share-net');
  });

  it('binds the workspace and home read-write at their own paths, chdirs to cwd, shows the system read-only', () => {
    expect(valuesOf(bwrap, '--bind', 2)).toEqual([
      [plan.root, plan.root],
      [plan.home, plan.home],
    ]);
    expect(valuesOf(bwrap, '--chdir', 1)).toEqual([[plan.cwd]]);
    const readOnly = valuesOf(bwrap, '--ro-bind-try', 2).map(([src]) => src);
    expect(readOnly).toEqual(expect.arrayContaining(['/usr', '/bin', '/lib', '/etc']));
    for (const hidden of ['/', '/home', '/root', '/run', '/proc', '/sys', '/var'])
      expect(readOnly).not.toContain(hidden);
    expect(valuesOf(bwrap, '--tmpfs', 1)).toEqual([['/tmp']]);
  });

  // --new-session would move the command out of the process group the provider signals on timeout.
  it("dies with its parent and stays in the caller's process group", () => {
    expect(bwrap).toContain('--die-with-parent');
    expect(bwrap).not.toContain('--new-session');
  });
});

describe('buildHolderArgs', () => {
  it('unshares everything, reports its pid on fd 3, and binds the egress socket only when given', () => {
    const plain = buildHolderArgs({ readOnlyPaths: [], command: ['cat'] });
    expect(plain).toEqual(expect.arrayContaining(['--unshare-all', '--unshare-user', '--die-with-parent']));
    expect(valuesOf(plain, '--info-fd', 1)).toEqual([['3']]);
    expect(valuesOf(plain, '--bind', 2)).toEqual([]);
    expect(plain.slice(-2)).toEqual(['--', 'cat']);
    const egress = buildHolderArgs({
      readOnlyPaths: [],
      egressSocket: '/tmp/e/ws.sock',
      command: ['cat'],
    });
    expect(valuesOf(egress, '--bind', 2)).toEqual([['/tmp/e/ws.sock', '/run/chatd/egress.sock']]);
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

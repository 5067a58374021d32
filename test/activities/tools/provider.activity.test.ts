/**
 * The `local` workspace provider end to end on a temp directory: templates (files, setup command,
 * parameter checks), the running/stopped/deleted lifecycle, and the bubblewrap launch path, exercised
 * with a stand-in `bwrap` script that records its arguments and runs the command (the real bwrap is
 * usually absent on CI hosts).
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkspaceError } from '../../../src/workspaces/errors';
import { LocalWorkspaceProvider, type LocalTemplate } from '../../../src/workspaces/local.provider';
import { DEFAULT_PATH, detectBwrap } from '../../../src/workspaces/sandbox';
import { isAlive, pidIn, waitFor } from './support';

let dir: string;
let provider: LocalWorkspaceProvider | undefined;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'chatd-provider-'));
});

afterEach(async () => {
  await provider?.dispose();
  provider = undefined;
  await rm(dir, { recursive: true, force: true });
});

const greeter: LocalTemplate = {
  id: 'greeter',
  name: 'greeter',
  displayName: 'Greeter',
  description: 'Writes a greeting.',
  parameters: [
    { name: 'greeting', description: 'What to say', type: 'string', required: true },
    { name: 'times', description: 'How often', type: 'number', required: false, default: '1' },
  ],
  files: { 'README.md': '# hello\n' },
  setupCommand: 'for i in $(seq "$CHATD_PARAM_TIMES"); do echo "$CHATD_PARAM_GREETING"; done > greeting.txt',
};

const codeOf = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'resolved',
    (err: unknown) => (err instanceof WorkspaceError ? err.code : String(err)),
  );

describe('LocalWorkspaceProvider templates', () => {
  it('lists templates without their setup internals', async () => {
    provider = new LocalWorkspaceProvider({ baseDir: dir, sandbox: 'none', templates: [greeter] });
    const templates = await provider.listTemplates();
    expect(templates).toEqual([
      {
        id: 'greeter',
        name: 'greeter',
        displayName: 'Greeter',
        description: 'Writes a greeting.',
        parameters: greeter.parameters,
      },
    ]);
    expect(await provider.getTemplate('nope')).toBeNull();
  });

  it('creates a workspace from files and a setup command that receives the parameters', async () => {
    provider = new LocalWorkspaceProvider({ baseDir: dir, sandbox: 'none', templates: [greeter] });
    const info = await provider.create({ templateId: 'greeter', parameters: { greeting: 'hi', times: '2' } });
    expect(info).toMatchObject({ templateId: 'greeter', status: 'running' });
    expect(info.name).toMatch(/^greeter-[0-9a-f]{4}$/);
    const ws = await provider.connect(info.id);
    expect((await ws.readFile('README.md')).toString()).toBe('# hello\n');
    expect((await ws.readFile('greeting.txt')).toString()).toBe('hi\nhi\n');
  });

  it('rejects unknown templates and bad parameters', async () => {
    provider = new LocalWorkspaceProvider({ baseDir: dir, sandbox: 'none', templates: [greeter] });
    expect(await codeOf(provider.create({ templateId: 'nope' }))).toBe('template_not_found');
    expect(await codeOf(provider.create({ templateId: 'greeter' }))).toBe('invalid_parameters');
    expect(await codeOf(provider.create({ templateId: 'greeter', parameters: { greeting: 'x', extra: '1' } }))).toBe(
      'invalid_parameters',
    );
    expect(await codeOf(provider.create({ templateId: 'greeter', parameters: { greeting: 'x', times: 'many' } }))).toBe(
      'invalid_parameters',
    );
  });

  it('reports a failing setup command and leaves no workspace running', async () => {
    provider = new LocalWorkspaceProvider({
      baseDir: dir,
      sandbox: 'none',
      templates: [{ ...greeter, id: 'broken', parameters: [], setupCommand: 'echo cannot build >&2; exit 2' }],
    });
    const err = await provider.create({ templateId: 'broken' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkspaceError);
    expect((err as WorkspaceError).code).toBe('setup_failed');
    expect((err as WorkspaceError).message).toMatch(/exited with 2: cannot build/);
    const metaDir = path.join(dir, '.chatd', 'meta');
    const metas = await readdir(metaDir);
    expect(metas).toHaveLength(1);
    expect(JSON.parse(await readFile(path.join(metaDir, metas[0]!), 'utf8'))).toMatchObject({ status: 'deleted' });
  });
});

describe('LocalWorkspaceProvider lifecycle', () => {
  it('stops (killing processes), starts again, and deletes', async () => {
    provider = new LocalWorkspaceProvider({ baseDir: dir, sandbox: 'none', killGraceMs: 200 });
    const info = await provider.create({ templateId: 'empty' });
    const ws = await provider.connect(info.id);
    const started = await ws.startProcess({ command: 'sleep 300 & echo $!; wait', owner: 'chat' });
    let child = 0;
    await waitFor(async () => {
      const output = (await ws.getProcess('chat', started.id))?.output ?? '';
      if (!/^\d+$/m.test(output)) return false;
      child = pidIn(output);
      return true;
    });

    expect((await provider.stop(info.id)).status).toBe('stopped');
    expect(isAlive(child)).toBe(false);
    expect(await codeOf(provider.connect(info.id))).toBe('not_running');

    expect((await provider.start(info.id)).status).toBe('running');
    const again = await provider.connect(info.id);
    expect((await again.exec({ command: 'echo back', timeoutMs: 5_000 })).output).toBe('back\n');

    expect((await provider.delete(info.id)).status).toBe('deleted');
    expect(
      await stat(again.root).then(
        () => true,
        () => false,
      ),
    ).toBe(false);
    expect(await codeOf(provider.start(info.id))).toBe('deleted');
    expect(await codeOf(provider.connect(info.id))).toBe('deleted');
  });

  it('does not know ids it never created, nor ids that are paths', async () => {
    provider = new LocalWorkspaceProvider({ baseDir: dir, sandbox: 'none' });
    expect(await provider.get('0b9a0a53-7c37-4c8e-9d7b-8f0e6f0d3b1a')).toBeNull();
    expect(await provider.get('../etc')).toBeNull();
    expect(await codeOf(provider.connect('../etc'))).toBe('workspace_not_found');
  });

  // Background processes must outlive the tool call (and the activity) that started them.
  it('shares one process table between connections to the same workspace', async () => {
    provider = new LocalWorkspaceProvider({ baseDir: dir, sandbox: 'none' });
    const info = await provider.create({ templateId: 'empty' });
    const first = await provider.connect(info.id);
    const proc = await first.startProcess({ command: 'sleep 300', owner: 'chat' });
    const second = await provider.connect(info.id);
    expect((await second.listProcesses('chat')).map((p) => p.id)).toEqual([proc.id]);
  });
});

describe('bubblewrap sandbox', () => {
  /** A stand-in bwrap: logs its arguments, then runs what follows "--" (the shell and the command). */
  async function fakeBwrap(): Promise<{ bin: string; log: string }> {
    const bin = path.join(dir, 'bin');
    const log = path.join(dir, 'bwrap.log');
    await mkdir(bin);
    await writeFile(
      path.join(bin, 'bwrap'),
      `#!/bin/sh\nprintf '%s\\n' "$@" > '${log}'\nwhile [ "$1" != "--" ]; do shift; done\nshift\nexec "$@"\n`,
    );
    await chmod(path.join(bin, 'bwrap'), 0o755);
    return { bin, log };
  }

  it('is detected on PATH with command -v and a trial run', async () => {
    const { bin } = await fakeBwrap();
    expect(await detectBwrap(`${bin}:${DEFAULT_PATH}`)).toBe(path.join(bin, 'bwrap'));
    expect(await detectBwrap(path.join(dir, 'empty-path'))).toBeNull();
  });

  it('wraps every command when found (sandbox auto)', async () => {
    const { bin, log } = await fakeBwrap();
    provider = new LocalWorkspaceProvider({ baseDir: path.join(dir, 'ws'), env: { PATH: `${bin}:${DEFAULT_PATH}` } });
    const ws = await provider.connect((await provider.create({ templateId: 'empty' })).id);
    const result = await ws.exec({ command: 'echo sandboxed; echo "$HOME"', cwd: '.', timeoutMs: 5_000 });
    expect(result.exitCode).toBe(0);
    expect(result.output.split('\n')[0]).toBe('sandboxed');
    const args = (await readFile(log, 'utf8')).trimEnd().split('\n');
    expect(args.slice(0, 3)).toEqual(['--die-with-parent', '--unshare-all', '--share-net']);
    expect(args.join(' ')).toContain(`--bind ${ws.root} ${ws.root}`);
    expect(args.join(' ')).toContain(`--chdir ${ws.root}`);
    expect(args.slice(-4)).toEqual([
      '--',
      existsSync('/bin/bash') ? '/bin/bash' : '/bin/sh',
      '-c',
      'echo sandboxed; echo "$HOME"',
    ]);
  });

  it('fails commands clearly when bwrap is required but missing', async () => {
    provider = new LocalWorkspaceProvider({ baseDir: dir, sandbox: 'bwrap', detectSandbox: async () => null });
    const ws = await provider.connect((await provider.create({ templateId: 'empty' })).id);
    await expect(ws.exec({ command: 'true', timeoutMs: 1_000 })).rejects.toThrow(/bubblewrap is not installed/);
  });
});

/**
 * The `local` workspace provider end to end on a temp directory, on the real sandbox: templates (files,
 * setup command, parameter checks), the running/stopped/deleted lifecycle, and what happens when the
 * sandbox cannot run or is turned off.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { WorkspaceError } from '../../../src/workspaces/errors';
import { LocalWorkspaceProvider, type LocalTemplate } from '../../../src/workspaces/local.provider';
import { DEFAULT_PATH, detectSandbox } from '../../../src/workspaces/sandbox';
import { pidIn, sleeping, uniqueSleep, waitFor } from './support';

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
    provider = new LocalWorkspaceProvider({ baseDir: dir, templates: [greeter] });
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
    provider = new LocalWorkspaceProvider({ baseDir: dir, templates: [greeter] });
    const info = await provider.create({ templateId: 'greeter', parameters: { greeting: 'hi', times: '2' } });
    expect(info).toMatchObject({ templateId: 'greeter', status: 'running' });
    expect(info.name).toMatch(/^greeter-[0-9a-f]{4}$/);
    const ws = await provider.connect(info.id);
    expect((await ws.readFile('README.md')).toString()).toBe('# hello\n');
    expect((await ws.readFile('greeting.txt')).toString()).toBe('hi\nhi\n');
  });

  it('rejects unknown templates and bad parameters', async () => {
    provider = new LocalWorkspaceProvider({ baseDir: dir, templates: [greeter] });
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
    provider = new LocalWorkspaceProvider({ baseDir: dir, killGraceMs: 200 });
    const info = await provider.create({ templateId: 'empty' });
    const ws = await provider.connect(info.id);
    const nap = uniqueSleep();
    const started = await ws.startProcess({ command: `sleep ${nap} & echo $!; wait`, owner: 'chat' });
    await waitFor(async () => {
      const output = (await ws.getProcess('chat', started.id))?.output ?? '';
      if (!/^\d+$/m.test(output)) return false;
      pidIn(output);
      return true;
    });
    expect(sleeping(nap)).toBe(true);

    expect((await provider.stop(info.id)).status).toBe('stopped');
    expect(sleeping(nap)).toBe(false);
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
    provider = new LocalWorkspaceProvider({ baseDir: dir });
    expect(await provider.get('0b9a0a53-7c37-4c8e-9d7b-8f0e6f0d3b1a')).toBeNull();
    expect(await provider.get('../etc')).toBeNull();
    expect(await codeOf(provider.connect('../etc'))).toBe('workspace_not_found');
  });

  // Background processes must outlive the tool call (and the activity) that started them.
  it('shares one process table between connections to the same workspace', async () => {
    provider = new LocalWorkspaceProvider({ baseDir: dir });
    const info = await provider.create({ templateId: 'empty' });
    const first = await provider.connect(info.id);
    const proc = await first.startProcess({ command: 'sleep 300', owner: 'chat' });
    const second = await provider.connect(info.id);
    expect((await second.listProcesses('chat')).map((p) => p.id)).toEqual([proc.id]);
  });
});

describe('sandbox availability', () => {
  it('refuses commands with an actionable error when the sandbox cannot run', async () => {
    provider = new LocalWorkspaceProvider({
      baseDir: dir,
      detectSandbox: async () => ({ ok: false, reason: 'The workspace sandbox needs bwrap (bubblewrap).' }),
    });
    const ws = await provider.connect((await provider.create({ templateId: 'empty' })).id);
    expect(await codeOf(ws.exec({ command: 'true', timeoutMs: 1_000 }))).toBe('sandbox_unavailable');
    await expect(ws.startProcess({ command: 'true', owner: 'chat' })).rejects.toThrow(/needs bwrap/);
    expect(await provider.sandboxStatus()).toEqual({ ok: false, reason: expect.stringMatching(/bubblewrap/) });
  });

  it('detects the real sandbox here, and names what is missing on a bare PATH', async () => {
    expect(await detectSandbox(DEFAULT_PATH)).toMatchObject({ ok: true, tools: { bwrap: expect.any(String) } });
    const bare = await detectSandbox(path.join(dir, 'empty-path'));
    expect(bare).toEqual({ ok: false, reason: expect.stringMatching(/bwrap \(bubblewrap\), nsenter, prlimit/) });
  });

  // Root workers run each workspace as its own uid, which must be able to reach the workspaces.
  it('names the private parent directory that keeps workspace uids out (root workers)', async () => {
    expect(process.getuid?.()).toBe(0); // the test machine and CI run as root, as workspace hosts do
    provider = new LocalWorkspaceProvider({ baseDir: path.join(dir, 'sub', 'ws') }); // dir is 0700
    expect(await provider.sandboxStatus()).toEqual({ ok: false, reason: expect.stringContaining(`chmod o+x ${dir}`) });
    expect(await codeOf(provider.create({ templateId: 'empty' }))).toBe('sandbox_unavailable');
  });

  it('runs commands unsandboxed only when the operator turned the sandbox off', async () => {
    provider = new LocalWorkspaceProvider({ baseDir: dir, sandbox: 'off' });
    expect(await provider.sandboxStatus()).toEqual({ ok: true, off: true });
    const ws = await provider.connect((await provider.create({ templateId: 'empty' })).id);
    const result = await ws.exec({ command: 'cat /proc/1/comm', timeoutMs: 5_000 });
    expect(result.sandbox).toBeNull();
    // Unsandboxed, the command sees the host's PID 1, not a sandbox init.
    expect(result.output.trim()).not.toBe('bwrap');
  });
});

/**
 * Path confinement of the `local` workspace, through the file tools and `resolvePath`: `..` escapes,
 * absolute paths elsewhere and symlinks leading out of the workspace (existing or dangling) are refused
 * and write nothing outside.
 */
import { mkdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { WorkspacePathError } from '../../../src/workspaces/errors';
import { createHarness, resultOf, type Harness } from './support';

let h: Harness;
let outside: string;

beforeEach(async () => {
  h = await createHarness();
  outside = path.join(h.dir, 'outside');
  await mkdir(outside);
  await writeFile(path.join(outside, 'secret.txt'), 'secret');
});

afterEach(async () => {
  await h.cleanup();
});

const exists = (p: string): Promise<boolean> =>
  stat(p).then(
    () => true,
    () => false,
  );

describe('path confinement', () => {
  it.each([
    ['a ../ escape', '../outside-file.txt'],
    ['a deep ../ escape', 'a/b/../../../../outside/secret.txt'],
    ['an absolute path outside', '/etc/passwd'],
  ])('refuses %s in read_file and write_file', async (_name, p) => {
    const read = await h.call('read_file', { path: p });
    expect(read.isError).toBe(true);
    expect(String(resultOf(read).error)).toMatch(/outside the workspace/);
    const write = await h.call('write_file', { path: p, content: 'x' });
    expect(write.isError).toBe(true);
    expect(String(resultOf(write).error)).toMatch(/outside the workspace/);
  });

  it('refuses reading through a symlink to /etc', async () => {
    await symlink('/etc', path.join(h.workspace.root, 'etc-link'));
    const out = await h.call('read_file', { path: 'etc-link/passwd' });
    expect(out.isError).toBe(true);
    expect(String(resultOf(out).error)).toMatch(/outside the workspace \(through a symlink\)/);
    const listing = await h.call('read_file', { path: 'etc-link' });
    expect(listing.isError).toBe(true);
  });

  it('refuses writing through a symlinked directory that points outside', async () => {
    await symlink(outside, path.join(h.workspace.root, 'out'));
    const out = await h.call('write_file', { path: 'out/new.txt', content: 'pwned' });
    expect(out.isError).toBe(true);
    expect(await exists(path.join(outside, 'new.txt'))).toBe(false);
  });

  // Writing to a dangling symlink would create its target: the target must be checked too.
  it('refuses writing through a dangling symlink whose target is outside', async () => {
    const target = path.join(outside, 'created-by-link.txt');
    await symlink(target, path.join(h.workspace.root, 'dangling'));
    const out = await h.call('write_file', { path: 'dangling', content: 'pwned' });
    expect(out.isError).toBe(true);
    expect(await exists(target)).toBe(false);
  });

  it('refuses edit_files on a symlink to a file outside and leaves it unchanged', async () => {
    await symlink(path.join(outside, 'secret.txt'), path.join(h.workspace.root, 'secret-link'));
    const out = await h.call('edit_files', {
      files: [{ path: 'secret-link', edits: [{ old: 'secret', new: 'changed' }] }],
    });
    expect(out.isError).toBe(true);
    expect(await readFile(path.join(outside, 'secret.txt'), 'utf8')).toBe('secret');
  });

  it('allows paths that stay inside: absolute inside, inner "..", and symlinks within the workspace', async () => {
    const root = h.workspace.root;
    expect((await h.call('write_file', { path: `${root}/abs.txt`, content: 'a' })).isError).toBe(false);
    expect((await h.call('write_file', { path: 'dir/../inner.txt', content: 'b' })).isError).toBe(false);
    await symlink(path.join(root, 'inner.txt'), path.join(root, 'inner-link'));
    const read = await h.call('read_file', { path: 'inner-link' });
    expect(resultOf(read)).toMatchObject({ content: '1\tb' });
    expect(await readFile(path.join(root, 'abs.txt'), 'utf8')).toBe('a');
  });

  it('resolvePath throws WorkspacePathError for escapes and NUL bytes', async () => {
    await expect(h.workspace.resolvePath('../x')).rejects.toBeInstanceOf(WorkspacePathError);
    await expect(h.workspace.resolvePath('a\0b')).rejects.toBeInstanceOf(WorkspacePathError);
    await expect(h.workspace.resolvePath('')).rejects.toBeInstanceOf(WorkspacePathError);
    await expect(h.workspace.resolvePath('sub/file')).resolves.toBe(path.join(h.workspace.root, 'sub/file'));
  });

  it('reports a symlink loop as an error, not a crash', async () => {
    await symlink('loop-b', path.join(h.workspace.root, 'loop-a'));
    await symlink('loop-a', path.join(h.workspace.root, 'loop-b'));
    const out = await h.call('read_file', { path: 'loop-a' });
    expect(out.isError).toBe(true);
    expect(String(resultOf(out).error)).toMatch(/symlink/);
  });
});

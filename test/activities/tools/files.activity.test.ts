/**
 * The file tools on a real temp workspace: read_file windows and numbering, write_file creating parents,
 * and edit_files exact-match semantics with all-or-nothing validation across files.
 */
import { readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { buildToolRegistry } from '../../../src/tools/registry';
import { createWorkspaceTools } from '../../../src/tools';
import { context, createHarness, resultOf, type Harness } from './support';

let h: Harness;

beforeEach(async () => {
  h = await createHarness();
});

afterEach(async () => {
  await h.cleanup();
});

const onDisk = (p: string): Promise<string> => readFile(path.join(h.workspace.root, p), 'utf8');

describe('write_file', () => {
  it('creates missing parent directories and overwrites existing files', async () => {
    const first = await h.call('write_file', { path: 'a/b/c.txt', content: 'one' });
    expect(resultOf(first)).toEqual({ ok: true, path: 'a/b/c.txt', bytes: 3 });
    await h.call('write_file', { path: 'a/b/c.txt', content: 'two€' });
    expect(await onDisk('a/b/c.txt')).toBe('two€');
  });

  it('refuses to replace a directory', async () => {
    await h.call('write_file', { path: 'dir/file', content: '' });
    const out = await h.call('write_file', { path: 'dir', content: 'x' });
    expect(out.isError).toBe(true);
    expect(String(resultOf(out).error)).toMatch(/is a directory/);
  });
});

describe('read_file', () => {
  beforeEach(async () => {
    const lines = Array.from({ length: 12 }, (_, i) => `line ${i + 1}`).join('\n');
    await writeFile(path.join(h.workspace.root, 'f.txt'), `${lines}\n`);
  });

  it('returns numbered lines with sizes', async () => {
    const out = await h.call('read_file', { path: 'f.txt', offset: 1, limit: 3 });
    expect(resultOf(out)).toMatchObject({
      content: '1\tline 1\n2\tline 2\n3\tline 3',
      total_lines: 12,
      lines_read: 3,
      file_size: 87,
      truncated: true,
    });
    expect(String(resultOf(out).note)).toMatch(/Continue with offset=4/);
  });

  it('pages from an offset, padding line numbers to the same width', async () => {
    const out = await h.call('read_file', { path: 'f.txt', offset: 9 });
    expect(resultOf(out).content).toBe(' 9\tline 9\n10\tline 10\n11\tline 11\n12\tline 12');
    expect(resultOf(out).note).toBeUndefined();
  });

  it('stops at 32 KB on a whole line and says where to continue', async () => {
    await writeFile(path.join(h.workspace.root, 'big.txt'), `${'x'.repeat(99)}\n`.repeat(1_000));
    const out = await h.call('read_file', { path: 'big.txt' });
    const content = String(resultOf(out).content);
    expect(Buffer.byteLength(content)).toBeLessThanOrEqual(32 * 1024);
    const read = Number(resultOf(out).lines_read);
    expect(read).toBeGreaterThan(250);
    expect(read).toBeLessThan(1_000);
    expect(String(resultOf(out).note)).toContain(`offset=${read + 1}`);
  });

  it('lists a directory', async () => {
    await h.call('write_file', { path: 'sub/x.ts', content: '' });
    const out = await h.call('read_file', { path: '.' });
    expect(resultOf(out)).toMatchObject({ type: 'directory', entries: ['f.txt', 'sub/'], count: 2 });
  });

  it('reports missing and binary files as errors', async () => {
    const missing = await h.call('read_file', { path: 'nope.txt' });
    expect(missing).toEqual({ isError: true, result: { error: 'File not found: "nope.txt".' } });
    await writeFile(path.join(h.workspace.root, 'bin'), Buffer.from([1, 0, 2, 3]));
    const binary = await h.call('read_file', { path: 'bin' });
    expect(binary.isError).toBe(true);
    expect(String(resultOf(binary).error)).toMatch(/binary/);
  });
});

describe('edit_files', () => {
  beforeEach(async () => {
    await writeFile(path.join(h.workspace.root, 'a.ts'), 'const a = 1;\nconst b = 2;\nconst a2 = 1;\n');
    await writeFile(path.join(h.workspace.root, 'b.ts'), 'export const x = 1;\n');
  });

  it('replaces one exact occurrence', async () => {
    const out = await h.call('edit_files', {
      files: [{ path: 'a.ts', edits: [{ old: 'const b = 2;', new: 'const b = 3;' }] }],
    });
    expect(resultOf(out)).toEqual({ ok: true, files: [{ path: 'a.ts', edits: 1, replacements: 1 }] });
    expect(await onDisk('a.ts')).toBe('const a = 1;\nconst b = 3;\nconst a2 = 1;\n');
  });

  it('refuses an ambiguous old text unless replace_all is set', async () => {
    const ambiguous = await h.call('edit_files', { files: [{ path: 'a.ts', edits: [{ old: '= 1;', new: '= 9;' }] }] });
    expect(ambiguous.isError).toBe(true);
    expect(String(resultOf(ambiguous).error)).toMatch(/a\.ts: edit 1: the old text occurs 2 times/);
    const all = await h.call('edit_files', {
      files: [{ path: 'a.ts', edits: [{ old: '= 1;', new: '= 9;', replace_all: true }] }],
    });
    expect(resultOf(all)).toEqual({ ok: true, files: [{ path: 'a.ts', edits: 1, replacements: 2 }] });
    expect(await onDisk('a.ts')).toBe('const a = 9;\nconst b = 2;\nconst a2 = 9;\n');
  });

  // A half-applied multi-file change leaves the project broken in a way the model cannot see.
  it('writes nothing when any edit of any file fails', async () => {
    const out = await h.call('edit_files', {
      files: [
        { path: 'b.ts', edits: [{ old: 'x = 1', new: 'x = 2' }] },
        {
          path: 'a.ts',
          edits: [
            { old: 'const b = 2;', new: 'const b = 3;' },
            { old: 'missing text', new: '' },
          ],
        },
      ],
    });
    expect(out.isError).toBe(true);
    expect(String(resultOf(out).error)).toMatch(/^No files were changed\. a\.ts: edit 2: the old text was not found/);
    expect(await onDisk('b.ts')).toBe('export const x = 1;\n');
    expect(await onDisk('a.ts')).toBe('const a = 1;\nconst b = 2;\nconst a2 = 1;\n');
  });

  it('writes nothing when one of the files does not exist', async () => {
    const out = await h.call('edit_files', {
      files: [
        { path: 'b.ts', edits: [{ old: 'x = 1', new: 'x = 2' }] },
        { path: 'missing.ts', edits: [{ old: 'a', new: 'b' }] },
      ],
    });
    expect(out.isError).toBe(true);
    expect(String(resultOf(out).error)).toMatch(/missing\.ts: the file does not exist/);
    expect(await onDisk('b.ts')).toBe('export const x = 1;\n');
  });

  it('applies edits in order, across several files, and takes "$&" literally', async () => {
    const out = await h.call('edit_files', {
      files: [
        {
          path: 'a.ts',
          edits: [
            { old: 'const b = 2;', new: 'const b = 3;' },
            { old: 'const b = 3;', new: 'const b = "$&";' },
          ],
        },
        { path: 'b.ts', edits: [{ old: 'x = 1', new: 'x = 2' }] },
      ],
    });
    expect(out.isError).toBe(false);
    expect(await onDisk('a.ts')).toContain('const b = "$&";');
    expect(await onDisk('b.ts')).toBe('export const x = 2;\n');
  });

  it('matches "\\n" in old text against a file with CRLF line endings', async () => {
    await writeFile(path.join(h.workspace.root, 'win.txt'), 'one\r\ntwo\r\n');
    const out = await h.call('edit_files', {
      files: [{ path: 'win.txt', edits: [{ old: 'one\ntwo', new: 'uno\ndos' }] }],
    });
    expect(out.isError).toBe(false);
    expect(await onDisk('win.txt')).toBe('uno\r\ndos\r\n');
  });

  it('lists schema problems for an empty file list', async () => {
    const out = await h.call('edit_files', { files: [] });
    expect(out.isError).toBe(true);
    expect(String(resultOf(out).error)).toMatch(/files: files is required/);
  });
});

describe('without a workspace', () => {
  it('answers every workspace tool with an error telling the model to create one', async () => {
    const registry = buildToolRegistry(createWorkspaceTools());
    for (const [name, input] of [
      ['read_file', { path: 'x' }],
      ['execute', { command: 'true' }],
      ['process_list', {}],
    ] as const) {
      const out = await registry.execute({ id: '1', name, input }, context(null));
      expect(out.isError).toBe(true);
      expect(String(resultOf(out).error)).toMatch(/no running workspace.*create_workspace/);
    }
  });
});

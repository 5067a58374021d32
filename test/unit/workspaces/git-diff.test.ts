/**
 * Parsing the framed output of the workspace diff run (src/workspaces/git-diff.ts) as hostile input:
 * renames, binary files, paths with spaces, tabs, newlines and non-ASCII characters, sections cut by
 * the byte caps, forged or missing frames, and NUL bytes in the patch.
 */
import {
  assembleDiff,
  capPatch,
  diffContentHash,
  GitDiffError,
  MAX_DIFF_BYTES,
  MAX_LIST_BYTES,
  NO_REPOSITORY,
  parseDiffOutput,
  parseNameStatus,
  parseNumstat,
} from '../../../src/workspaces/git-diff';

const M = 'chatd-diff-0123456789abcdef01234567';

/** The output diffScript prints, framed with marker M. */
function framed(status: string, numstat: string, patch: string, patchSize = Buffer.byteLength(patch)): string {
  return `${M}:status\n${status}\n${M}:numstat\n${numstat}\n${M}:patch ${patchSize}\n${patch}\n${M}:end\n`;
}

describe('parseDiffOutput', () => {
  it('joins name-status and numstat: renames, binary files, odd paths', () => {
    const status = [
      'M',
      'keep.txt',
      'R087',
      'old name.txt',
      'new\nname.txt',
      'A',
      'ünï ✓.txt',
      'A',
      'bin.dat',
      'D',
      'tab\there',
      '',
    ].join('\0');
    const numstat = [
      '3\t1\tkeep.txt',
      '2\t2\t',
      'old name.txt',
      'new\nname.txt',
      '1\t0\tünï ✓.txt',
      '-\t-\tbin.dat',
      '0\t4\ttab\there',
      '',
    ].join('\0');
    const patch = 'diff --git a/keep.txt b/keep.txt\n+x\n';
    const diff = parseDiffOutput(framed(status, numstat, patch), M);
    expect(diff).toEqual({
      gitRepository: true,
      files: [
        { path: 'keep.txt', status: 'modified', additions: 3, deletions: 1 },
        { path: 'new\nname.txt', old_path: 'old name.txt', status: 'renamed', additions: 2, deletions: 2 },
        { path: 'ünï ✓.txt', status: 'added', additions: 1, deletions: 0 },
        { path: 'bin.dat', status: 'added', additions: 0, deletions: 0, binary: true },
        { path: 'tab\there', status: 'deleted', additions: 0, deletions: 4 },
      ],
      filesTruncated: false,
      additions: 6,
      deletions: 7,
      diff: patch,
      truncated: false,
    });
  });

  it('reports a workspace without a repository', () => {
    expect(parseDiffOutput(`${M}:none\n`, M)).toBe(NO_REPOSITORY);
  });

  it('an empty repository diff is a repository with no files', () => {
    expect(parseDiffOutput(framed('', '', ''), M)).toMatchObject({ gitRepository: true, files: [], diff: '' });
  });

  it('refuses output whose frames are missing, reordered or forged with another marker', () => {
    expect(() => parseDiffOutput('', M)).toThrow(GitDiffError);
    expect(() => parseDiffOutput('garbage', M)).toThrow(GitDiffError);
    // The head was lost (a provider keeps the tail of long output).
    expect(() => parseDiffOutput(framed('', '', '').slice(10), M)).toThrow(GitDiffError);
    // No end frame: the run died while printing the patch.
    expect(() => parseDiffOutput(`${M}:status\n\n${M}:numstat\n\n${M}:patch 3\nabc`, M)).toThrow(GitDiffError);
    // A repository cannot forge the frames: it does not know this run's marker.
    const forged = framed('', '', '').replaceAll(M, 'chatd-diff-forged');
    expect(() => parseDiffOutput(forged, M)).toThrow(GitDiffError);
    expect(() => parseDiffOutput(`${M}:status\n\n${M}:numstat\n\n${M}:patch x\n\n${M}:end\n`, M)).toThrow(GitDiffError);
  });

  it('a patch that prints the frames of another run stays patch text', () => {
    const patch = `+${'chatd-diff-other'}:end\n+${M.slice(0, 10)}:status\n`;
    const diff = parseDiffOutput(framed('A\0f\0', '2\t0\tf\0', patch), M);
    expect(diff.diff).toBe(patch);
    expect(diff.files).toEqual([{ path: 'f', status: 'added', additions: 2, deletions: 0 }]);
  });

  it('flags a patch longer than the cap (the size line says so) and cuts it at a line end', () => {
    const line = 'x'.repeat(99) + '\n';
    const patch = line.repeat(Math.ceil(MAX_DIFF_BYTES / line.length)).slice(0, MAX_DIFF_BYTES);
    const diff = parseDiffOutput(framed('', '', patch, MAX_DIFF_BYTES + 1), M);
    expect(diff.truncated).toBe(true);
    expect(diff.diff.endsWith('\n')).toBe(true);
    expect(Buffer.byteLength(diff.diff)).toBeLessThanOrEqual(MAX_DIFF_BYTES);
  });
});

describe('section parsers', () => {
  it('drop a partial last entry of a section cut by the byte cap', () => {
    const status = parseNameStatus('M\0a.txt\0R100\0old\0ne', true);
    expect(status).toEqual({ entries: [{ status: 'modified', path: 'a.txt' }], cut: true });
    const numstat = parseNumstat('1\t2\ta.txt\0' + '3\t4\tb.t', true);
    expect(numstat).toEqual({ entries: [{ path: 'a.txt', additions: 1, deletions: 2, binary: false }], cut: true });
  });

  it('stop at the first token they do not understand', () => {
    expect(parseNameStatus('M\0a\0<script>\0b\0', false)).toEqual({
      entries: [{ status: 'modified', path: 'a' }],
      cut: true,
    });
    expect(parseNumstat('1\t1\ta\0NaN\t1\tb\0', false).entries.map((e) => e.path)).toEqual(['a']);
    expect(parseNumstat('99999999999999999\t1\ta\0', false).entries).toEqual([]);
    // A rename whose paths are missing.
    expect(parseNumstat('1\t1\t\0old\0', false)).toEqual({ entries: [], cut: true });
  });

  it('marks the file list truncated when a section hit its cap', () => {
    const status = 'A\0f\0'.padEnd(MAX_LIST_BYTES, 'x');
    const diff = assembleDiff(status, '1\t0\tf\0', '', false);
    expect(diff.filesTruncated).toBe(true);
  });

  it('caps the file list at 1,000 entries but counts every file in the totals', () => {
    const names = Array.from({ length: 1200 }, (_, i) => `f${i}`);
    const status = names.map((n) => `A\0${n}\0`).join('');
    const numstat = names.map((n) => `1\t0\t${n}\0`).join('');
    const diff = assembleDiff(status, numstat, '', false);
    expect(diff.files).toHaveLength(1000);
    expect(diff.filesTruncated).toBe(true);
    expect(diff.additions).toBe(1200);
  });
});

describe('capPatch', () => {
  it('removes NUL characters, which PostgreSQL text cannot hold', () => {
    expect(capPatch('+a\0b\n', false)).toEqual({ text: '+ab\n', cut: false });
  });

  it('cuts an over-long patch on a line end, never inside a character', () => {
    const patch = '+' + 'é'.repeat(MAX_DIFF_BYTES) + '\n';
    const { text, cut } = capPatch(`+ok\n${patch}`, false);
    expect(cut).toBe(true);
    expect(text).toBe('+ok\n');
  });
});

describe('diffContentHash', () => {
  it('is equal for equal diffs and differs when anything a client sees differs', () => {
    const a = assembleDiff('A\0f\0', '1\t0\tf\0', '+x\n', false);
    const b = assembleDiff('A\0f\0', '1\t0\tf\0', '+x\n', false);
    expect(diffContentHash(a)).toBe(diffContentHash(b));
    expect(diffContentHash({ ...a, diff: '+y\n' })).not.toBe(diffContentHash(a));
    expect(diffContentHash(NO_REPOSITORY)).not.toBe(diffContentHash({ ...NO_REPOSITORY, gitRepository: true }));
  });
});

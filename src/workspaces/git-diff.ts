/**
 * The git diff of a workspace, computed inside the workspace (through `Workspace.exec`, so in its
 * sandbox, on its host) with one shell run of a few git commands, and parsed here. Everything the
 * workspace prints is treated as hostile: every section is capped in the shell, the sections are
 * framed by a per-run random marker that the repository's content cannot forge, and the parser drops
 * whatever it does not understand instead of trusting it.
 *
 * What the diff is: the working tree of the git repository at the workspace root against `HEAD` (the
 * empty tree before the first commit), untracked files (not ignored) included as added, renames
 * detected. The user's index is never written: untracked files are marked intent-to-add in a copy of
 * the index (`GIT_INDEX_FILE`) that is removed afterwards, and `GIT_OPTIONAL_LOCKS=0` keeps git from
 * refreshing the real one. A repository above the workspace root is never looked at.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { DiffFileJson } from '../db/database';
import type { Workspace } from './types';

/** Longest unified diff text kept (bytes); a longer one is cut at a line end and flagged `truncated`. */
export const MAX_DIFF_BYTES = 256 * 1024;
/** Bytes of `--name-status` and of `--numstat` output read; files beyond are dropped (`filesTruncated`). */
export const MAX_LIST_BYTES = 128 * 1024;
/** Files kept in the file list. */
export const MAX_DIFF_FILES = 1000;
/** How long the git run may take before it is killed (the previous diff is then kept). */
export const DIFF_TIMEOUT_MS = 15_000;

export type DiffFile = DiffFileJson;

/** A workspace's diff as stored and served. */
export interface WorkspaceDiff {
  /** False when the workspace root is not a git repository (then everything else is empty). */
  gitRepository: boolean;
  files: DiffFile[];
  filesTruncated: boolean;
  additions: number;
  deletions: number;
  /** Unified diff text, at most MAX_DIFF_BYTES. */
  diff: string;
  truncated: boolean;
}

/** The diff of a workspace without a repository (also what a chat without a stored diff reports). */
export const NO_REPOSITORY: WorkspaceDiff = Object.freeze({
  gitRepository: false,
  files: [],
  filesTruncated: false,
  additions: 0,
  deletions: 0,
  diff: '',
  truncated: false,
}) as WorkspaceDiff;

/** Why a git run produced no diff (the caller keeps the previous one). */
export class GitDiffError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GitDiffError';
  }
}

/**
 * Options that keep a hostile repository configuration from changing the output format, running
 * external diff programs or text conversions, or calling an fsmonitor hook.
 */
const GIT = [
  'git',
  '-c core.quotepath=off',
  '-c core.fsmonitor=false',
  '-c color.ui=never',
  '-c diff.noprefix=false',
  '-c diff.mnemonicPrefix=false',
  '-c diff.relative=false',
  '-c diff.renames=true',
].join(' ');
const DIFF_FLAGS = '-M --no-ext-diff --no-textconv --no-color';

/** The shell script of one run; `marker` frames its sections. Exported for the unit tests. */
export function diffScript(marker: string): string {
  const m = marker;
  return [
    'exec 2>/dev/null',
    // Never discover a repository above the workspace root (the root's parent is the ceiling).
    'GIT_CEILING_DIRECTORIES=$(dirname "$(pwd -P)"); export GIT_CEILING_DIRECTORIES',
    'GIT_OPTIONAL_LOCKS=0; export GIT_OPTIONAL_LOCKS',
    `g() { ${GIT} "$@"; }`,
    `top=$(g rev-parse --show-toplevel) && [ "$top" = "$(pwd -P)" ] || { printf '%s\\n' '${m}:none'; exit 0; }`,
    `base=$(g rev-parse -q --verify 'HEAD^{commit}') || base=$(g hash-object -t tree /dev/null) || exit 3`,
    'tmp=$(mktemp -d "${TMPDIR:-/tmp}/chatd-diff.XXXXXX") || tmp=$(mktemp -d "$HOME/.chatd-diff.XXXXXX") || exit 3',
    `trap 'rm -rf "$tmp"' EXIT`,
    'real=$(g rev-parse --git-path index) || exit 3',
    'if [ -f "$real" ]; then cp "$real" "$tmp/index" || exit 3; fi',
    'GIT_INDEX_FILE="$tmp/index"; export GIT_INDEX_FILE',
    // Names are literal paths, never pathspec magic (a file named `:(glob)*` must not widen the add).
    'g ls-files -z --others --exclude-standard | GIT_LITERAL_PATHSPECS=1 g add -N --pathspec-from-file=- --pathspec-file-nul',
    `printf '%s\\n' '${m}:status'`,
    `g diff ${DIFF_FLAGS} -z --name-status "$base" | head -c ${MAX_LIST_BYTES}`,
    `printf '\\n%s\\n' '${m}:numstat'`,
    `g diff ${DIFF_FLAGS} -z --numstat "$base" | head -c ${MAX_LIST_BYTES}`,
    `g diff ${DIFF_FLAGS} "$base" | head -c ${MAX_DIFF_BYTES + 1} > "$tmp/patch"`,
    `printf '\\n%s %s\\n' '${m}:patch' "$(wc -c < "$tmp/patch" | tr -d ' ')"`,
    `head -c ${MAX_DIFF_BYTES} "$tmp/patch"`,
    `printf '\\n%s\\n' '${m}:end'`,
  ].join('\n');
}

/** Runs the diff in `workspace`. Throws `GitDiffError` when the run failed, timed out or printed garbage. */
export async function computeWorkspaceDiff(
  workspace: Workspace,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<WorkspaceDiff> {
  const marker = `chatd-diff-${randomBytes(12).toString('hex')}`;
  const result = await workspace.exec({
    command: diffScript(marker),
    timeoutMs: options.timeoutMs ?? DIFF_TIMEOUT_MS,
    signal: options.signal,
  });
  if (result.timedOut || result.aborted) throw new GitDiffError('git diff did not finish in time');
  if (result.exitCode !== 0) throw new GitDiffError(`git diff failed (exit ${result.exitCode ?? result.signal})`);
  return parseDiffOutput(result.output, marker);
}

/** Splits the framed output of diffScript and parses each section. Throws GitDiffError when framing is off. */
export function parseDiffOutput(output: string, marker: string): WorkspaceDiff {
  if (output.startsWith(`${marker}:none\n`) || output === `${marker}:none`) return NO_REPOSITORY;
  const statusAt = output.indexOf(`${marker}:status\n`);
  const numstatAt = output.indexOf(`\n${marker}:numstat\n`);
  const patchAt = output.indexOf(`\n${marker}:patch `);
  const endAt = output.lastIndexOf(`\n${marker}:end`);
  if (statusAt !== 0 || numstatAt < statusAt || patchAt < numstatAt || endAt < patchAt) {
    throw new GitDiffError('git diff output is not framed as expected');
  }
  const status = output.slice(`${marker}:status\n`.length, numstatAt);
  const numstat = output.slice(numstatAt + `\n${marker}:numstat\n`.length, patchAt);
  const patchHeaderEnd = output.indexOf('\n', patchAt + 1);
  const patchSize = Number(output.slice(patchAt + `\n${marker}:patch `.length, patchHeaderEnd));
  if (!Number.isSafeInteger(patchSize) || patchSize < 0) throw new GitDiffError('git diff patch size is missing');
  const patch = output.slice(patchHeaderEnd + 1, endAt);
  return assembleDiff(status, numstat, patch, patchSize > MAX_DIFF_BYTES);
}

/** Combines the parsed sections into a WorkspaceDiff. */
export function assembleDiff(status: string, numstat: string, patch: string, patchCut: boolean): WorkspaceDiff {
  const statusCut = Buffer.byteLength(status) >= MAX_LIST_BYTES;
  const numstatCut = Buffer.byteLength(numstat) >= MAX_LIST_BYTES;
  const entries = parseNameStatus(status, statusCut);
  const counts = parseNumstat(numstat, numstatCut);
  const files: DiffFile[] = [];
  let additions = 0;
  let deletions = 0;
  for (const count of counts.entries) {
    additions += count.additions;
    deletions += count.deletions;
  }
  const byPath = new Map(counts.entries.map((c) => [c.path, c]));
  for (const entry of entries.entries.slice(0, MAX_DIFF_FILES)) {
    const count = byPath.get(entry.path);
    files.push({
      path: entry.path,
      ...(entry.oldPath !== undefined ? { old_path: entry.oldPath } : {}),
      status: entry.status,
      additions: count?.additions ?? 0,
      deletions: count?.deletions ?? 0,
      ...(count?.binary ? { binary: true } : {}),
    });
  }
  const { text, cut } = capPatch(patch, patchCut);
  return {
    gitRepository: true,
    files,
    filesTruncated: entries.cut || counts.cut || entries.entries.length > MAX_DIFF_FILES,
    additions,
    deletions,
    diff: text,
    truncated: cut,
  };
}

const STATUS_NAMES: Record<string, DiffFile['status']> = {
  A: 'added',
  M: 'modified',
  D: 'deleted',
  R: 'renamed',
  C: 'copied',
  T: 'type_changed',
  U: 'unmerged',
};

interface NameStatusEntry {
  path: string;
  oldPath?: string;
  status: DiffFile['status'];
}

/**
 * `git diff -z --name-status`: `S\0path\0`, or `R<score>\0old\0new\0` for renames and copies. When
 * the section was cut, its last (partial) entry is dropped and `cut` is set. Parsing stops at the
 * first token that is not a status letter.
 */
export function parseNameStatus(section: string, cut: boolean): { entries: NameStatusEntry[]; cut: boolean } {
  const tokens = section.split('\0');
  // A complete section ends with a NUL, leaving one empty token; anything else after it is partial.
  const tail = tokens.pop();
  let partial = cut || (tail !== undefined && tail !== '' && tail !== '\n');
  const entries: NameStatusEntry[] = [];
  for (let i = 0; i < tokens.length;) {
    const code = /^([ACDMRTUXB])(\d{0,3})$/.exec(tokens[i]!);
    if (!code) {
      partial = true;
      break;
    }
    const twoPaths = code[1] === 'R' || code[1] === 'C';
    const width = twoPaths ? 3 : 2;
    if (i + width > tokens.length) {
      partial = true;
      break;
    }
    const status = STATUS_NAMES[code[1]!] ?? 'unknown';
    if (twoPaths) entries.push({ status, oldPath: tokens[i + 1]!, path: tokens[i + 2]! });
    else entries.push({ status, path: tokens[i + 1]! });
    i += width;
  }
  return { entries: entries.filter((e) => e.path !== ''), cut: partial };
}

interface NumstatEntry {
  path: string;
  additions: number;
  deletions: number;
  binary: boolean;
}

/**
 * `git diff -z --numstat`: `add\tdel\tpath\0`, or `add\tdel\t\0old\0new\0` for renames; binary
 * files count `-\t-`. Paths may contain tabs (only the first two split). Same cut rules as above.
 */
export function parseNumstat(section: string, cut: boolean): { entries: NumstatEntry[]; cut: boolean } {
  const tokens = section.split('\0');
  const tail = tokens.pop();
  let partial = cut || (tail !== undefined && tail !== '' && tail !== '\n');
  const entries: NumstatEntry[] = [];
  for (let i = 0; i < tokens.length;) {
    const m = /^(\d{1,12}|-)\t(\d{1,12}|-)\t([\s\S]*)$/.exec(tokens[i]!);
    if (!m) {
      partial = true;
      break;
    }
    let path = m[3]!;
    let width = 1;
    if (path === '') {
      if (i + 3 > tokens.length) {
        partial = true;
        break;
      }
      path = tokens[i + 2]!;
      width = 3;
    }
    const binary = m[1] === '-' || m[2] === '-';
    entries.push({
      path,
      additions: binary ? 0 : Number(m[1]),
      deletions: binary ? 0 : Number(m[2]),
      binary,
    });
    i += width;
  }
  return { entries: entries.filter((e) => e.path !== ''), cut: partial };
}

/**
 * The patch as stored: NUL characters removed (PostgreSQL text cannot hold them; a repository can
 * force "text" diffs of binary files), at most MAX_DIFF_BYTES, and when cut, cut back to the last
 * complete line (a character split by the byte cap is dropped with it).
 */
export function capPatch(patch: string, cut: boolean): { text: string; cut: boolean } {
  let text = patch.includes('\0') ? patch.replace(/\0/g, '') : patch;
  let truncated = cut;
  if (Buffer.byteLength(text) > MAX_DIFF_BYTES) {
    text = Buffer.from(text).subarray(0, MAX_DIFF_BYTES).toString('utf8');
    truncated = true;
  }
  if (truncated) {
    const lastLine = text.lastIndexOf('\n');
    text = lastLine >= 0 ? text.slice(0, lastLine + 1) : '';
  }
  return { text, cut: truncated };
}

/** A stable hash of everything a client sees of the diff: equal hashes, equal diffs. */
export function diffContentHash(diff: WorkspaceDiff): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        diff.gitRepository,
        diff.files,
        diff.filesTruncated,
        diff.additions,
        diff.deletions,
        diff.truncated,
        diff.diff,
      ]),
    )
    .digest('hex');
}

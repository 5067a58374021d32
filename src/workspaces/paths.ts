/**
 * Path confinement for local workspaces: a path is accepted only when it stays inside the workspace root
 * both lexically (no `..` escape, no absolute path elsewhere) and physically (the real path of its nearest
 * existing ancestor, and of any dangling symlink on the way, is inside the real root).
 */
import { lstat, readlink, realpath } from 'node:fs/promises';
import * as path from 'node:path';
import { WorkspacePathError } from './errors';

const MAX_SYMLINK_HOPS = 40;

const isInside = (root: string, candidate: string): boolean =>
  candidate === root || candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

const errnoCode = (err: unknown): string | undefined =>
  err !== null && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : undefined;

/**
 * Resolves `requested` (relative to `root`, or absolute) to an absolute path whose existing part is
 * symlink-free and inside `realRoot` (the realpath of the root). Throws `WorkspacePathError` for escapes,
 * empty paths, NUL bytes and symlink loops. The returned path may not exist yet (for writes).
 *
 * Invariant: a file created at the returned path lands inside the workspace, as long as nobody swaps a
 * directory on the way for a symlink between this check and the write (a race the tools do not defend).
 */
export async function confinePath(root: string, realRoot: string, requested: string): Promise<string> {
  if (requested.trim() === '') throw new WorkspacePathError(requested, 'The path is empty.');
  if (requested.includes('\0')) throw new WorkspacePathError(requested, 'The path contains a NUL byte.');
  const lexical = path.resolve(root, requested);
  if (!isInside(root, lexical) && !isInside(realRoot, lexical)) {
    throw new WorkspacePathError(requested, outsideMessage(requested, root));
  }
  return resolveInside(realRoot, lexical, requested, root, 0);
}

async function resolveInside(
  realRoot: string,
  candidate: string,
  requested: string,
  root: string,
  hops: number,
): Promise<string> {
  if (hops > MAX_SYMLINK_HOPS)
    throw new WorkspacePathError(requested, `Too many symlinks while resolving "${requested}".`);
  const rest: string[] = [];
  let current = candidate;
  for (;;) {
    try {
      const real = await realpath(current);
      if (!isInside(realRoot, real)) throw new WorkspacePathError(requested, outsideMessage(requested, root, true));
      return rest.length === 0 ? real : path.join(real, ...rest);
    } catch (err) {
      if (err instanceof WorkspacePathError) throw err;
      const code = errnoCode(err);
      if (code === 'ELOOP') throw new WorkspacePathError(requested, `"${requested}" is a symlink loop.`);
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw err;
    }
    // `current` does not resolve. A dangling symlink is followed by hand: writing through it would create
    // its target, which may lie outside the workspace.
    const info = await lstat(current).catch(() => null);
    if (info?.isSymbolicLink()) {
      const target = path.resolve(path.dirname(current), await readlink(current));
      return resolveInside(
        realRoot,
        rest.length === 0 ? target : path.join(target, ...rest),
        requested,
        root,
        hops + 1,
      );
    }
    const parent = path.dirname(current);
    if (parent === current) throw new WorkspacePathError(requested, outsideMessage(requested, root));
    rest.unshift(path.basename(current));
    current = parent;
  }
}

function outsideMessage(requested: string, root: string, viaSymlink = false): string {
  const why = viaSymlink ? ' (through a symlink)' : '';
  return `The path "${requested}" is outside the workspace${why}. Use a path inside ${root}.`;
}

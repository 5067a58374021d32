/**
 * Race-free file access beneath a workspace root, for the file tools that run in the worker process.
 *
 * A model controls the workspace's contents while a tool runs: a command left in the background can
 * swap a directory for a symlink between any check and any use. So no model-chosen path is ever handed
 * to the kernel whole. Every operation walks the path one component at a time from an open handle of
 * the root: each step opens `/proc/self/fd/<parent>/<name>` with O_NOFOLLOW (the magic link resolves to
 * the already-open directory, so this is `openat(parent, name, O_NOFOLLOW)`), a symlink met on the way
 * is read and walked by hand beneath the root, and creation, renaming and removal name their entry
 * relative to the handle of its parent in the same way. A swapped-in symlink therefore either fails the
 * O_NOFOLLOW open or is resolved beneath the root; it is never followed out.
 *
 * Files the worker creates are handed to the workspace's sandbox uid, so commands can change them.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, opendir, readlink, rename, unlink, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { WorkspacePathError } from './errors';

// libuv opens every descriptor close-on-exec, so commands never inherit one by accident.
const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_DIRECTORY, O_NONBLOCK } = constants;

const DIR_FLAGS = O_RDONLY | O_DIRECTORY | O_NOFOLLOW;
/** O_NONBLOCK: a FIFO planted by the model must not block the worker on open. */
const FILE_FLAGS = O_RDONLY | O_NOFOLLOW | O_NONBLOCK;
const MAX_SYMLINK_HOPS = 40;

/** Who owns what the worker creates in the workspace (the sandbox's host uid); null keeps the worker's. */
export interface FileOwner {
  uid: number;
  gid: number;
}

export type EntryKind = 'file' | 'directory' | 'other';

const errnoCode = (err: unknown): string | undefined =>
  err !== null && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : undefined;

const isInside = (root: string, candidate: string): boolean =>
  candidate === root || candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

/** A directory handle on the walk and the names that led to it from the root. */
interface Step {
  handle: FileHandle;
  names: string[];
}

/** Where a walk ended: the open parent directory and the final name (absent for the root itself). */
interface Walked {
  parent: Step;
  name: string | null;
  /** Handles opened on the way, closed by `release`. */
  opened: FileHandle[];
}

const entry = (dir: FileHandle, name: string): string => `/proc/self/fd/${dir.fd}/${name}`;

/** File operations confined beneath one root directory. */
export class RootedFs {
  constructor(
    /** The root as configured (may contain symlinks); absolute paths under it are accepted. */
    private readonly root: string,
    /** The root's real path: what commands see and what returned paths use. */
    private readonly realRoot: string,
    private readonly owner: FileOwner | null,
  ) {}

  /** The absolute path `requested` names, with symlinks beneath the root resolved; may not exist yet. */
  async resolve(requested: string): Promise<string> {
    const walked = await this.walk(requested, 'stop');
    try {
      const names = walked.name === null ? walked.parent.names : [...walked.parent.names, walked.name];
      return path.join(this.realRoot, ...names);
    } finally {
      await release(walked);
    }
  }

  /** Kind and size of the entry; null when it does not exist. Symlinks are followed beneath the root. */
  async stat(requested: string): Promise<{ kind: EntryKind; size: number } | null> {
    let walked: Walked;
    try {
      walked = await this.walk(requested, 'error');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    }
    try {
      if (walked.name === null) return { kind: 'directory', size: (await walked.parent.handle.stat()).size };
      const info = await lstat(entry(walked.parent.handle, walked.name));
      const kind: EntryKind = info.isFile() ? 'file' : info.isDirectory() ? 'directory' : 'other';
      return { kind, size: info.size };
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return null;
      throw err;
    } finally {
      await release(walked);
    }
  }

  /** The whole content of a regular file, as long as it was when opened. */
  async readFile(requested: string): Promise<Buffer> {
    const walked = await this.walk(requested, 'error');
    try {
      if (walked.name === null) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      const file = await open(entry(walked.parent.handle, walked.name), FILE_FLAGS);
      try {
        const info = await file.stat();
        if (info.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
        if (!info.isFile()) throw new WorkspacePathError(requested, `"${requested}" is not a regular file.`);
        const buffer = Buffer.alloc(info.size);
        let offset = 0;
        while (offset < info.size) {
          const { bytesRead } = await file.read(buffer, offset, info.size - offset, offset);
          if (bytesRead === 0) break;
          offset += bytesRead;
        }
        return buffer.subarray(0, offset);
      } finally {
        await file.close();
      }
    } finally {
      await release(walked);
    }
  }

  /** Directory entries, directories suffixed with `/`, sorted. */
  async listDirectory(requested: string): Promise<string[]> {
    const walked = await this.walk(requested, 'error');
    let dir: FileHandle | null = null;
    try {
      dir = walked.name === null ? null : await open(entry(walked.parent.handle, walked.name), DIR_FLAGS | O_NONBLOCK);
      const target = dir ?? walked.parent.handle;
      const names: string[] = [];
      for await (const item of await opendir(`/proc/self/fd/${target.fd}`)) {
        names.push(item.isDirectory() ? `${item.name}/` : item.name);
      }
      return names.sort();
    } finally {
      await dir?.close();
      await release(walked);
    }
  }

  /**
   * Writes every file through a temp file in its own directory, then renames them all into place, so a
   * failure while staging changes nothing and leaves no temp file. Existing files keep their mode.
   */
  async writeFiles(files: ReadonlyArray<{ path: string; content: string | Buffer }>): Promise<void> {
    const staged: Array<{ walked: Walked; temp: string; name: string }> = [];
    try {
      for (const file of files) {
        const walked = await this.walk(file.path, 'create');
        if (walked.name === null) throw new WorkspacePathError(file.path, `"${file.path}" is a directory.`);
        const name = walked.name;
        const dir = walked.parent.handle;
        const existing = await lstat(entry(dir, name)).catch(() => null);
        if (existing?.isDirectory()) {
          await release(walked);
          throw new WorkspacePathError(file.path, `"${file.path}" is a directory.`);
        }
        const mode = existing?.isFile() ? existing.mode & 0o777 : 0o644;
        const temp = `.${name.slice(0, 200)}.chatd-${randomBytes(4).toString('hex')}`;
        staged.push({ walked, temp, name });
        const handle = await open(entry(dir, temp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode);
        try {
          await handle.writeFile(file.content);
          if (this.owner) await handle.chown(this.owner.uid, this.owner.gid);
          await handle.chmod(mode);
        } finally {
          await handle.close();
        }
      }
      while (staged.length > 0) {
        const { walked, temp, name } = staged[0]!;
        await rename(entry(walked.parent.handle, temp), entry(walked.parent.handle, name));
        staged.shift();
        await release(walked);
      }
    } finally {
      for (const { walked, temp } of staged) await unlink(entry(walked.parent.handle, temp)).catch(() => undefined);
      for (const { walked } of staged) await release(walked);
    }
  }

  /**
   * Walks `requested` beneath the root. Every directory on the way is opened with O_NOFOLLOW relative to
   * its parent's handle; symlinks are read and walked by hand (absolute targets from the root), and any
   * step that would leave the root fails. A missing directory on the way is an ENOENT error, made (owned
   * by the sandbox uid) with `create`, or ends the walk with `stop` (the rest is returned as the name).
   * The final component is returned by name, unresolved unless it is a symlink.
   */
  private async walk(requested: string, missing: 'error' | 'create' | 'stop'): Promise<Walked> {
    const pending = this.components(requested);
    const rootHandle = await open(this.realRoot, DIR_FLAGS);
    const opened: FileHandle[] = [rootHandle];
    const stack: Step[] = [{ handle: rootHandle, names: [] }];
    let hops = 0;
    try {
      for (;;) {
        const name = pending.shift();
        if (name === undefined) {
          // The path named a directory (the root, or one reached through `..` or a symlink).
          const top = stack[stack.length - 1]!;
          if (stack.length === 1) return { parent: top, name: null, opened };
          const parent = stack[stack.length - 2]!;
          return { parent, name: top.names[top.names.length - 1]!, opened };
        }
        if (name === '..') {
          if (stack.length === 1) throw outside(requested, this.root, hops > 0);
          stack.pop();
          continue;
        }
        const top = stack[stack.length - 1]!;
        const last = pending.length === 0;
        const info = await lstat(entry(top.handle, name)).catch((err: unknown) => {
          if (errnoCode(err) === 'ENOENT') return null;
          throw err;
        });
        if (info?.isSymbolicLink()) {
          if (++hops > MAX_SYMLINK_HOPS) {
            throw new WorkspacePathError(requested, `Too many symlinks while resolving "${requested}".`);
          }
          const target = await readlink(entry(top.handle, name));
          if (path.isAbsolute(target)) {
            const rel = this.relativeToRoot(target);
            if (rel === null) throw outside(requested, this.root, true);
            stack.length = 1;
            pending.unshift(...rel);
          } else {
            pending.unshift(...splitPath(target));
          }
          continue;
        }
        if (last) return { parent: top, name, opened };
        if (!info) {
          if (missing === 'stop') return { parent: top, name: [name, ...pending].join('/'), opened };
          if (missing === 'error') throw Object.assign(new Error(`${name} does not exist`), { code: 'ENOENT' });
          await mkdir(entry(top.handle, name), { mode: 0o755 }).catch((err: unknown) => {
            if (errnoCode(err) !== 'EEXIST') throw err;
          });
        } else if (!info.isDirectory()) {
          throw Object.assign(new Error(`${name} is not a directory`), { code: 'ENOTDIR' });
        }
        // O_NOFOLLOW: if the entry was swapped for a symlink since the lstat, this fails (ELOOP/ENOTDIR)
        // instead of following it; the walk then reports the error rather than leaving the root.
        const handle = await open(entry(top.handle, name), DIR_FLAGS);
        opened.push(handle);
        if (!info && this.owner) await handle.chown(this.owner.uid, this.owner.gid);
        stack.push({ handle, names: [...top.names, name] });
      }
    } catch (err) {
      await Promise.all(opened.map((h) => h.close().catch(() => undefined)));
      if (errnoCode(err) === 'ELOOP') {
        throw new WorkspacePathError(requested, `"${requested}" changed while it was being resolved; try again.`);
      }
      throw err;
    }
  }

  /** The path's components relative to the root; throws for empty paths, NUL bytes and lexical escapes. */
  private components(requested: string): string[] {
    if (requested.trim() === '') throw new WorkspacePathError(requested, 'The path is empty.');
    if (requested.includes('\0')) throw new WorkspacePathError(requested, 'The path contains a NUL byte.');
    if (!path.isAbsolute(requested)) {
      const lexical = path.resolve(this.realRoot, requested);
      if (!isInside(this.realRoot, lexical)) throw outside(requested, this.root, false);
      return splitPath(path.relative(this.realRoot, lexical));
    }
    const rel = this.relativeToRoot(requested);
    if (rel === null) throw outside(requested, this.root, false);
    return rel;
  }

  /** Components of an absolute path under the root (configured or real); null when it lies elsewhere. */
  private relativeToRoot(absolute: string): string[] | null {
    const lexical = path.resolve(absolute);
    for (const base of [this.realRoot, this.root]) {
      if (isInside(base, lexical)) return splitPath(path.relative(base, lexical));
    }
    return null;
  }
}

function splitPath(p: string): string[] {
  return p.split('/').filter((part) => part !== '' && part !== '.');
}

async function release(walked: Walked): Promise<void> {
  await Promise.all(walked.opened.map((h) => h.close().catch(() => undefined)));
}

function outside(requested: string, root: string, viaSymlink: boolean): WorkspacePathError {
  const why = viaSymlink ? ' (through a symlink)' : '';
  return new WorkspacePathError(
    requested,
    `The path "${requested}" is outside the workspace${why}. Use a path inside ${root}.`,
  );
}

/**
 * One command running in its own process group: spawning (detached, stdin from /dev/null, stdout and
 * stderr into one bounded buffer), exit tracking, and signalling or terminating the whole group. Shared by
 * foreground and background execution of local workspaces.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { LaunchSpec } from './sandbox';

/** Keeps the last `limit` bytes of a stream and counts everything that went through it. */
export class OutputBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Bytes appended in total, including the ones dropped from the front. */
  total = 0;

  constructor(private readonly limit: number) {}

  append(chunk: Buffer): void {
    this.total += chunk.length;
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit) {
      const first = this.chunks[0]!;
      const excess = this.size - this.limit;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }

  /** The kept bytes as text. When the front was dropped mid-character, the orphaned continuation bytes go too. */
  text(): string {
    const buf = Buffer.concat(this.chunks);
    let start = 0;
    if (this.total > this.size) while (start < buf.length && (buf[start]! & 0xc0) === 0x80) start++;
    return buf.subarray(start).toString('utf8');
  }
}

/**
 * Whether process group `pgid` still has a live member. On Linux this reads /proc, because a killed
 * member whose parent is gone stays a zombie until PID 1 reaps it (some container inits never do), and
 * `kill(-pgid, 0)` counts zombies. Without /proc it relies on `kill(-pgid, 0)` alone.
 */
export function groupAlive(pgid: number): boolean {
  // Fast path: no member at all, not even a zombie.
  if (!signalGroup(pgid, 0)) return false;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true; // no /proc: trust kill(-pgid, 0)
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp …"; comm may contain spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}

/** Sends `signal` to every member of group `pgid`; false when the group no longer exists. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * SIGTERM to the group, then SIGKILL once `graceMs` has passed with members still alive (`graceMs` 0 sends
 * SIGKILL at once). Resolves when no member is left alive, or about a second after SIGKILL regardless.
 */
export async function terminateGroup(pgid: number, graceMs: number): Promise<void> {
  if (graceMs > 0 && signalGroup(pgid, 'SIGTERM')) {
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      if (!groupAlive(pgid)) return;
      await sleep(20);
    }
  }
  if (!signalGroup(pgid, 'SIGKILL')) return;
  const deadline = Date.now() + 1_000;
  while (Date.now() < deadline && groupAlive(pgid)) await sleep(20);
}

export interface SpawnGroupOptions {
  launch: LaunchSpec;
  cwd: string;
  env: Record<string, string>;
  /** Output kept in memory (the tail). */
  bufferBytes: number;
}

/** How long to wait after the leader exits for the pipes to deliver the rest of its output. */
const DRAIN_MS = 200;

/** A spawned command that leads its own process group. */
export class GroupProcess {
  readonly output: OutputBuffer;
  readonly startedAt = new Date();
  endedAt: Date | null = null;
  exitCode: number | null = null;
  exitSignal: string | null = null;
  /** Resolves once the leader has exited and its output has drained (bounded). Never rejects. */
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;

  constructor(options: SpawnGroupOptions) {
    this.output = new OutputBuffer(options.bufferBytes);
    // detached: the child calls setsid(), so it leads a new session and process group (pgid = pid) with
    // no controlling terminal; the whole group can then be signalled with kill(-pid).
    const { launch } = options;
    this.child = spawn(launch.file, launch.args, {
      cwd: options.cwd,
      env: options.env,
      uid: launch.uid,
      gid: launch.gid,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (chunk: Buffer): void => this.output.append(chunk);
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise<void>((resolve) => {
      let closed = false;
      this.child.once('close', (code, signal) => {
        closed = true;
        this.markExited(code, signal);
        resolve();
      });
      this.child.once('exit', (code, signal) => {
        this.markExited(code, signal);
        // Output written just before exit may still be in the pipes. A member left behind can hold the
        // pipes open indefinitely, so the wait is bounded.
        if (!closed) setTimeout(resolve, DRAIN_MS);
      });
      this.child.once('error', (err) => {
        this.output.append(Buffer.from(`${err.message}\n`));
        this.markExited(127, null);
        resolve();
      });
    });
  }

  /** The process group id (= the leader's pid); undefined when spawning failed. */
  get pgid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.endedAt === null;
  }

  /** Signals the whole group; false when nothing was signalled. */
  signal(signal: NodeJS.Signals): boolean {
    return this.pgid !== undefined && signalGroup(this.pgid, signal);
  }

  /** Terminates the whole group (see `terminateGroup`) and waits for the leader's exit. */
  async terminate(graceMs: number): Promise<void> {
    if (this.pgid === undefined) return;
    await terminateGroup(this.pgid, graceMs);
    await this.exited;
  }

  /** Whether a member of the group (the leader or anything it left behind) is still alive. */
  groupAlive(): boolean {
    return this.pgid !== undefined && groupAlive(this.pgid);
  }

  /** Stops listening to the pipes (after the group is gone, or when giving up on a leftover member). */
  detach(): void {
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
  }

  /** Resolves true when the leader exited within `timeoutMs`, false on timeout or abort. */
  async waitExit(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (!this.running) {
      await this.exited;
      return true;
    }
    if (signal?.aborted) return false;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const stop = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
      onAbort = () => resolve(false);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([this.exited.then(() => true), stop]);
    } finally {
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  private markExited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.endedAt !== null) return;
    this.endedAt = new Date();
    this.exitCode = code;
    this.exitSignal = signal;
  }
}

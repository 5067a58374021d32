/**
 * Child processes of `npm start` die with it, however it dies (INFRA). A tiny `sh` reaper holds the
 * read end of a pipe whose write end only this process has; chatd registers each server it starts
 * (embedded PostgreSQL, the Temporal dev server) by writing its pid there. When chatd exits for any
 * reason, SIGKILL included, the kernel closes the pipe; the reaper reads EOF, signals every pid still
 * registered (then SIGKILL after a grace period) and exits. A graceful stop unregisters each server
 * as it exits and closes the pipe, so the reaper then signals nothing. The reaper ignores the
 * terminal's Ctrl-C (which reaches the whole process group) so it outlives chatd's own shutdown.
 * Also: finding processes by their command line (/proc), to stop leftovers of an earlier run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

/** Seconds the reaper waits after the first signal before SIGKILL. */
const GRACE_SECONDS = 5;

// Lines: "+ <pid> <SIGNAL>" registers, "- <pid>" forgets. At EOF: signal, wait, kill what is left.
const REAPER_SCRIPT = `
trap '' INT TERM HUP QUIT
pids=''
while read -r op pid sig; do
  case "$op" in
    +) pids="$pids $pid:$sig" ;;
    -) pids=$(for e in $pids; do [ "\${e%%:*}" = "$pid" ] || printf '%s ' "$e"; done) ;;
  esac
done
[ -n "$pids" ] || exit 0
for e in $pids; do kill -s "\${e#*:}" "\${e%%:*}" 2>/dev/null; done
i=0
while [ $i -lt ${GRACE_SECONDS * 10} ]; do
  alive=''
  for e in $pids; do kill -0 "\${e%%:*}" 2>/dev/null && alive=1; done
  [ -n "$alive" ] || exit 0
  sleep 0.1; i=$((i + 1))
done
for e in $pids; do kill -s KILL "\${e%%:*}" 2>/dev/null; done
`;

export class ChildReaper {
  private constructor(private readonly child: ChildProcess) {}

  /** Starts the reaper. It keeps neither this process's event loop nor its exit waiting. */
  static start(): ChildReaper {
    const child = spawn('sh', ['-c', REAPER_SCRIPT], { stdio: ['pipe', 'ignore', 'ignore'] });
    child.on('error', () => undefined);
    child.stdin!.on('error', () => undefined);
    child.unref();
    (child.stdin as unknown as Socket).unref();
    return new ChildReaper(child);
  }

  /** The reaper's own pid (tests check it is gone too). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** `pid` gets `signal` (then SIGKILL) when this process dies without unregistering it. */
  register(pid: number, signal: 'KILL' | 'TERM' | 'QUIT' | 'INT' = 'KILL'): void {
    this.child.stdin!.write(`+ ${pid} ${signal}\n`);
  }

  unregister(pid: number): void {
    if (this.child.stdin!.writable) this.child.stdin!.write(`- ${pid}\n`);
  }

  /** After a graceful stop: the reaper signals whatever is still registered and exits. */
  close(): void {
    this.child.stdin!.end();
  }
}

/** A process's command line as its arguments, or undefined (gone, or no /proc). */
export function commandLine(pid: number): string[] | undefined {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return raw ? raw.split('\0').filter((a, i, all) => a !== '' || i < all.length - 1) : undefined;
  } catch {
    return undefined;
  }
}

/** Pids (Linux /proc) whose command line satisfies `match`; empty where there is no /proc. */
export function findProcesses(match: (args: string[], pid: number) => boolean): number[] {
  if (!existsSync('/proc/self/cmdline')) return [];
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const args = commandLine(pid);
    if (args && match(args, pid)) found.push(pid);
  }
  return found;
}

/** The parent pid of `pid` (Linux /proc), or undefined. */
export function parentPid(pid: number): number | undefined {
  try {
    // "pid (comm) state ppid …"; comm may contain spaces and parentheses, so split after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs; a zombie (exited, not yet reaped by its parent) does not. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2));
  } catch {
    return existsSync('/proc/self') ? false : true;
  }
}

/** Sends `signal`, waits up to `graceMs` for the process to go, then SIGKILL; resolves once it is gone. */
export async function stopProcess(pid: number, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  const gone = async (ms: number): Promise<boolean> => {
    for (const end = Date.now() + ms; Date.now() < end;) {
      if (!isAlive(pid)) return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return !isAlive(pid);
  };
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  if (await gone(graceMs)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await gone(5_000);
}

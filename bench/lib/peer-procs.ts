/**
 * The peers of scenario S11 as processes: installing the Python peers' venv (bench/peers/install.sh),
 * spawning each peer's processes on loopback ports with their logs in the stack's work dir, waiting
 * until they serve (GET /healthz) or poll their task queue, and restarting one after a kill -9.
 */
import { execFile, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { freePort } from '../../src/infra/embedded-postgres';
import { Child, REPO_ROOT } from './stack';
import { sleep } from './stats';

export const PEERS_DIR = path.join(REPO_ROOT, 'bench', 'peers');

/** Runs install.sh (idempotent; minutes on a cold cache): the venv's python, or why not. */
export function installPythonPeers(timeoutMs = 600_000): Promise<{ python: string } | { error: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      [path.join(PEERS_DIR, 'install.sh')],
      { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 4 << 20 },
      (err, stdout, stderr) => {
        const python = stdout.trim().split('\n').pop() ?? '';
        if (err || !python) {
          const tail = stderr.trim().split('\n').slice(-3).join(' | ');
          resolve({ error: `bench/peers/install.sh failed: ${tail || (err?.message ?? 'no python path printed')}` });
        } else resolve({ python });
      },
    );
  });
}

export interface PeerProcessSpec {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Resolves when the process is ready; throws if it cannot become so. */
  ready: (child: Child) => Promise<void>;
}

/** A peer process that can be killed and started again with the same spec (same port). */
export class PeerProcess {
  child: Child | null = null;

  constructor(
    private readonly spec: PeerProcessSpec,
    private readonly workDir: string,
  ) {}

  get pid(): number | null {
    return this.child?.alive ? this.child.pid : null;
  }

  /** Spawns the process and waits until it is ready (at most `deadlineMs`). */
  async start(deadlineMs = 90_000): Promise<void> {
    const { name, command, args, cwd, env } = this.spec;
    const logFile = path.join(this.workDir, `peer-${name}-${Date.now()}.log`);
    const log = createWriteStream(logFile);
    const proc = spawn(command, args, {
      cwd,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? os.homedir(),
        PYTHONUNBUFFERED: '1',
        PYTHONDONTWRITEBYTECODE: '1',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const child = new Child(name, proc);
    this.child = child;
    let tail = '';
    const capture = (d: Buffer): void => {
      tail = (tail + d.toString()).slice(-3000);
      log.write(d);
    };
    proc.stdout!.on('data', capture);
    proc.stderr!.on('data', capture);
    void child.exited.then(() => log.end());
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.spec.ready(child),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`not ready within ${deadlineMs / 1000} s`)), deadlineMs);
        }),
      ]);
    } catch (err) {
      await child.kill9();
      throw new Error(`peer ${name}: ${(err as Error).message}; log ${logFile}:\n${tail}`);
    } finally {
      clearTimeout(timer);
    }
  }

  async kill9(): Promise<void> {
    await this.child?.kill9();
  }

  async stop(): Promise<void> {
    await this.child?.stop(3000);
  }
}

/** Ready when GET `${url}/healthz` answers 200. */
export function healthy(url: string): (child: Child) => Promise<void> {
  return async (child) => {
    for (;;) {
      if (!child.alive) throw new Error('exited while starting');
      const ok = await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) return;
      await sleep(100);
    }
  };
}

/** Ready when the process polls `taskQueue` for workflow tasks (its pid shows among the pollers). */
export function polling(client: Client, taskQueue: string): (child: Child) => Promise<void> {
  return async (child) => {
    for (;;) {
      if (!child.alive) throw new Error('exited while starting');
      const res = await client.workflowService
        .describeTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, taskQueueType: 1 })
        .catch(() => null);
      if (res?.pollers?.some((p) => (p.identity ?? '').startsWith(`${child.pid}@`))) return;
      await sleep(100);
    }
  };
}

/** A loopback URL on a free port. */
export async function loopbackPort(): Promise<{ port: number; url: string }> {
  const port = await freePort();
  return { port, url: `http://127.0.0.1:${port}` };
}

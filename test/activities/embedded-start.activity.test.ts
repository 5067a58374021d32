/**
 * `npm start` (src/main/dev.ts) as an OS process of its own, with its own data directory and ports:
 * the embedded PostgreSQL and Temporal dev server die with it even when it is SIGKILLed (the reaper,
 * src/infra/child-reaper.ts); leftovers of a start whose reaper died too are stopped by the next start
 * on the same data directory; a taken port fails the start with a message naming port and variable.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { findProcesses, isAlive, parentPid } from '../../src/infra/child-reaper';
import { freePort } from '../../src/infra/embedded-postgres';
import { waitUntil } from '../support/wait';

jest.setTimeout(180_000);

const REPO_ROOT = path.resolve(__dirname, '../..');
const dirs: string[] = [];
const strays: number[] = [];

afterAll(() => {
  for (const pid of strays) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chatd-start-'));
  // As root, PostgreSQL runs as the postgres user, which must be able to reach its data directory.
  chmodSync(dir, 0o755);
  dirs.push(dir);
  return path.join(dir, 'data');
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** Runs `npm start`'s entry point with its own data directory and ports. */
async function startChatd(dir: string, ports: Record<string, number>): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main/dev.ts'], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? os.homedir(),
      // The CLI the global setup resolved: never a build or download here.
      TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH ?? '',
      CHATD_DATA_DIR: dir,
      CHATD_LOG_LEVEL: 'warn',
      CHATD_HTTP_HOST: '127.0.0.1',
      CHATD_HTTP_PORT: String(ports.api),
      CHATD_TEMPORAL_PORT: String(ports.temporal),
      CHATD_TEMPORAL_UI_PORT: String(ports.ui),
      CHATD_WORKSPACE_SANDBOX: 'off',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  strays.push(child.pid!);
  return { child, output: () => output, exited };
}

async function untilReady(started: Started): Promise<void> {
  await waitUntil(
    () => {
      if (started.child.exitCode !== null) throw new Error(`chatd exited while starting:\n${started.output()}`);
      return started.output().includes('Admin token');
    },
    150_000,
    'npm start to be ready',
  );
}

/** The servers (and the reaper) a running start has: PostgreSQL from its pid file, Temporal by its SQLite file. */
function serversOf(dir: string, chatdPid: number): { postgres: number; temporal: number; reaper: number } {
  const postgres = Number(readFileSync(path.join(dir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const sqlite = path.join(dir, 'temporal.sqlite');
  const [temporal] = findProcesses((args) => args.includes('start-dev') && args.includes(sqlite));
  const [reaper] = findProcesses((args, pid) => args[0] === 'sh' && parentPid(pid) === chatdPid);
  if (!temporal || !reaper) throw new Error(`no Temporal (${temporal}) or reaper (${reaper}) found`);
  strays.push(postgres, temporal, reaper);
  return { postgres, temporal, reaper };
}

async function ports(): Promise<Record<string, number>> {
  const [api, temporal, ui] = await Promise.all([freePort(), freePort(), freePort()]);
  return { api, temporal, ui };
}

it('kills its PostgreSQL and Temporal when SIGKILLed, and cleans up what a dead reaper left behind', async () => {
  const dir = dataDir();
  const used = await ports();
  const first = await startChatd(dir, used);
  await untilReady(first);
  const before = serversOf(dir, first.child.pid!);
  expect([before.postgres, before.temporal, before.reaper].every(isAlive)).toBe(true);

  // Without its reaper, a SIGKILLed start leaves its servers running: the next start must stop them.
  process.kill(before.reaper, 'SIGKILL');
  first.child.kill('SIGKILL');
  await first.exited;
  await waitUntil(() => !isAlive(before.reaper), 10_000, 'the reaper to be gone');
  // PostgreSQL outlives its parent. The orphaned Temporal may already have died writing to its
  // closed log pipe, so only PostgreSQL is sure to be left for the next start to stop.
  expect(isAlive(before.postgres)).toBe(true);

  // The same ports: the leftover Temporal still holds its own, and the start must not fail on it.
  const second = await startChatd(dir, used);
  await untilReady(second);
  expect(second.output()).toContain(`stopping PostgreSQL (pid ${before.postgres}) left running`);
  // Whether it died on its own or was stopped, the leftover Temporal is gone and its ports reused.
  expect(isAlive(before.postgres)).toBe(false);
  expect(isAlive(before.temporal)).toBe(false);

  // With its reaper: SIGKILL takes the servers down too.
  const after = serversOf(dir, second.child.pid!);
  second.child.kill('SIGKILL');
  await second.exited;
  await waitUntil(
    () => !isAlive(after.postgres) && !isAlive(after.temporal) && !isAlive(after.reaper),
    30_000,
    `PostgreSQL (${after.postgres}), Temporal (${after.temporal}) and the reaper (${after.reaper}) to be gone`,
  );
});

it('refuses to start when a port it needs is taken, naming the port and its variable', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    const started = await startChatd(dataDir(), { ...(await ports()), temporal: port });
    const code = await started.exited;
    expect(code).not.toBe(0);
    expect(started.output()).toContain(`port ${port} (the embedded Temporal frontend, set by CHATD_TEMPORAL_PORT)`);
    expect(started.output()).not.toContain('Admin token');
  } finally {
    taken.close();
  }
});

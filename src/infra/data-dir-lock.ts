/**
 * One `npm start` per data directory (INFRA): `<dataDir>/chatd.pid` holds the pid of the chatd using
 * it. A second start on the same directory is refused while that process runs; a file left by a
 * killed start is taken over, and that start's leftover servers are then stopped as stale
 * (embedded-postgres.ts, temporal-dev-server.ts).
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { commandLine, isAlive } from './child-reaper';

export const LOCK_FILE = 'chatd.pid';

/** Thrown when another running chatd holds the data directory. */
export class DataDirInUseError extends Error {
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(
      `another chatd (pid ${pid}) is running on ${dataDir}: stop it first, or give this one its own ` +
        `CHATD_DATA_DIR (and ports). If no chatd runs, delete ${path.join(dataDir, LOCK_FILE)}.`,
    );
    this.name = 'DataDirInUseError';
  }
}

/** Whether `pid` is a live Node process (where /proc tells; elsewhere any live process). */
function liveChatd(pid: number): boolean {
  if (pid === process.pid || !isAlive(pid)) return false;
  const args = commandLine(pid);
  return args === undefined || /node/.test(path.basename(args[0] ?? ''));
}

/** Takes the data directory for this process; returns the release function (removes the file). */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(dataDir, LOCK_FILE);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
      const holder = Number(readFileSync(file, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && liveChatd(holder)) throw new DataDirInUseError(dataDir, holder);
      rmSync(file, { force: true });
    }
  }
  return () => {
    try {
      if (Number(readFileSync(file, 'utf8').trim()) === process.pid) rmSync(file, { force: true });
    } catch {
      // already gone
    }
  };
}

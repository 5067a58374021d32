/**
 * Per-process CPU and memory from /proc: CPU time (user + system, including reaped children, so a
 * PostgreSQL server's exited backends still count) and RSS, for named groups of processes (a group
 * is one pid, or a pid with all its descendants for PostgreSQL's postmaster and backends). A
 * ProcessMeter takes a snapshot at the start of a measurement window and reports the deltas, plus the
 * peak RSS it saw while sampling in the background.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Where to find a group's processes: one pid, or a pid and its descendants. */
export interface ProcessGroup {
  pid: number;
  tree?: boolean;
}

export type ProcessGroups = Record<string, ProcessGroup | undefined>;

interface Stat {
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
}

/** One process's CPU and RSS from /proc, or null when it is gone or unreadable. */
function readStat(pid: number): Stat | null {
  try {
    const raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state) of proc(5): ppid = 4, utime..cstime = 14..17.
    const n = (i: number): number => Number(fields[i - 3]);
    return { ppid: n(4), ticks: n(14) + n(15) + n(16) + n(17) };
  } catch {
    return null;
  }
}

function readRssKb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** Every live pid with its parent, for finding descendants. */
function parentMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    const stat = readStat(pid);
    if (!stat) continue;
    const list = children.get(stat.ppid);
    if (list) list.push(pid);
    else children.set(stat.ppid, [pid]);
  }
  return children;
}

function descendants(root: number, children: Map<number, number[]>): number[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

/** Finds live processes whose command line contains every one of `needles`. */
export function findPids(needles: string[]): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid)) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (needles.every((n) => cmdline.includes(n))) found.push(pid);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/** The parent pid of `pid`, or null. */
export function parentOf(pid: number): number | null {
  return readStat(pid)?.ppid ?? null;
}

export interface GroupUsage {
  cpu_ms: number;
  /** Share of one core over the window. */
  cpu_cores: number;
  rss_mb_start: number;
  rss_mb_end: number;
  rss_mb_peak: number;
}

interface GroupSnapshot {
  ticks: number;
  rssKb: number;
}

/** Measures CPU and RSS of process groups over a window. */
export class ProcessMeter {
  private readonly tickMs: number;

  constructor() {
    let hz = 100;
    try {
      hz = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      // Linux's usual USER_HZ.
    }
    this.tickMs = 1000 / hz;
  }

  /** CPU ticks and RSS (kB) of each group now. */
  snapshot(groups: ProcessGroups): Record<string, GroupSnapshot> {
    const needTree = Object.values(groups).some((g) => g?.tree);
    const children = needTree ? parentMap() : new Map<number, number[]>();
    const out: Record<string, GroupSnapshot> = {};
    for (const [name, group] of Object.entries(groups)) {
      if (!group) continue;
      const pids = group.tree ? descendants(group.pid, children) : [group.pid];
      let ticks = 0;
      let rssKb = 0;
      for (const pid of pids) {
        ticks += readStat(pid)?.ticks ?? 0;
        rssKb += readRssKb(pid);
      }
      out[name] = { ticks, rssKb };
    }
    return out;
  }

  /** RSS in MB of each group now. */
  rssMb(groups: ProcessGroups): Record<string, number> {
    const snap = this.snapshot(groups);
    return Object.fromEntries(Object.entries(snap).map(([k, v]) => [k, Math.round(v.rssKb / 102.4) / 10]));
  }

  /**
   * Starts a window: call the returned function to end it and get per-group usage. RSS is sampled
   * every `sampleMs` meanwhile for the peak.
   */
  start(groups: () => ProcessGroups, sampleMs = 1000): () => Record<string, GroupUsage> {
    const startedAt = performance.now();
    const first = this.snapshot(groups());
    const peak = new Map<string, number>(Object.entries(first).map(([k, v]) => [k, v.rssKb]));
    const timer = setInterval(() => {
      for (const [k, v] of Object.entries(this.snapshot(groups()))) peak.set(k, Math.max(peak.get(k) ?? 0, v.rssKb));
    }, sampleMs);
    timer.unref();
    return () => {
      clearInterval(timer);
      const last = this.snapshot(groups());
      const elapsed = performance.now() - startedAt;
      const out: Record<string, GroupUsage> = {};
      for (const [name, end] of Object.entries(last)) {
        const begin = first[name] ?? { ticks: end.ticks, rssKb: end.rssKb };
        // A process restarted within the window (S10) has fewer ticks than at the start: count its own.
        const ticks = end.ticks >= begin.ticks ? end.ticks - begin.ticks : end.ticks;
        const cpuMs = ticks * this.tickMs;
        out[name] = {
          cpu_ms: Math.round(cpuMs),
          cpu_cores: Math.round((cpuMs / elapsed) * 1000) / 1000,
          rss_mb_start: Math.round(begin.rssKb / 102.4) / 10,
          rss_mb_end: Math.round(end.rssKb / 102.4) / 10,
          rss_mb_peak: Math.round(Math.max(peak.get(name) ?? 0, end.rssKb) / 102.4) / 10,
        };
      }
      return out;
    };
  }
}

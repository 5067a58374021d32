/**
 * What the execute tool tells the model about the sandbox a command ran in: the enforced network policy
 * and limits in one line, and which limit a failed command most likely hit: per-workspace limits from the
 * counters of the workspace's cgroup, per-process rlimits from the command's exit status and the messages
 * shells and runtimes print when a limit refuses them.
 */
import type { ExecResult, SandboxReport } from '../workspaces/types';

/**
 * One line, for example `network none; cgroup v1: memory 2048 MiB, 512 processes, 2 CPUs per workspace;
 * rlimits: 4096 MiB address space, 1024 MiB/file, 3600 s CPU per process; 512 MiB /tmp`. Without a cgroup
 * the process limit is an rlimit: `rlimits: 512 processes, 4096 MiB address space, …`.
 */
export function describeSandbox(report: SandboxReport): string {
  const { limits, cgroup } = report;
  const perProcess = `${limits.memoryMb} MiB address space, ${limits.fileSizeMb} MiB/file, ${limits.cpuSeconds} s CPU per process`;
  const enforced = cgroup
    ? `cgroup ${cgroup.version}: memory ${cgroup.memoryMb} MiB, ${cgroup.processes} processes, ` +
      `${cgroup.cpus} CPU${cgroup.cpus === 1 ? '' : 's'} per workspace; rlimits: ${perProcess}`
    : `rlimits: ${limits.processes} processes, ${perProcess}`;
  return `network ${report.network}; ${enforced}; ${limits.tmpMb} MiB /tmp`;
}

const SIGXCPU = 24;
const SIGXFSZ = 25;

/** A note naming the limit the command hit, or null when none shows. */
export function limitNote(run: ExecResult): string | null {
  const report = run.sandbox;
  if (!report) return null;
  const { limits, cgroup } = report;
  const counted = new Set(run.limitsHit ?? []);
  const died = (signal: number, name: string): boolean => run.exitCode === 128 + signal || run.signal === name;
  const hits: string[] = [];
  if (cgroup && counted.has('processes')) {
    hits.push(
      `the process limit (${cgroup.processes} processes for the whole workspace, background processes included)`,
    );
  } else if (/Resource temporarily unavailable|fork: retry|Cannot fork|can't fork/i.test(run.output)) {
    hits.push(`the process limit (${limits.processes} processes for this workspace)`);
  }
  if (cgroup && counted.has('memory')) {
    hits.push(
      `the memory limit (${cgroup.memoryMb} MiB for the whole workspace, background processes included; ` +
        'the kernel killed a process to stay under it)',
    );
  }
  if (/cannot allocate|out of memory|MemoryError|memory exhausted|bad_alloc/i.test(run.output)) {
    hits.push(`the memory limit (${limits.memoryMb} MiB of address space per process)`);
  }
  if (died(SIGXFSZ, 'SIGXFSZ') || /File size limit exceeded/.test(run.output)) {
    hits.push(`the file size limit (${limits.fileSizeMb} MiB per file)`);
  }
  if (died(SIGXCPU, 'SIGXCPU') || /CPU time limit exceeded/.test(run.output)) {
    hits.push(`the CPU time limit (${limits.cpuSeconds} s per process)`);
  }
  if (hits.length === 0) return null;
  return `The command hit ${hits.join(' and ')} of the workspace sandbox; do less at once, not the same again.`;
}

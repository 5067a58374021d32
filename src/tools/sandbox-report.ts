/**
 * What the execute tool tells the model about the sandbox a command ran in: the enforced network policy
 * and limits in one line, and which limit a failed command most likely hit (read from its exit status
 * and the messages shells and runtimes print when a limit refuses them).
 */
import type { ExecResult, SandboxReport } from '../workspaces/types';

/** One line: `network none; limits: 512 processes, 4096 MiB memory/process, …`. */
export function describeSandbox(report: SandboxReport): string {
  const { limits } = report;
  return (
    `network ${report.network}; limits: ${limits.processes} processes, ${limits.memoryMb} MiB memory/process, ` +
    `${limits.fileSizeMb} MiB/file, ${limits.cpuSeconds} s CPU/process, ${limits.tmpMb} MiB /tmp`
  );
}

const SIGXCPU = 24;
const SIGXFSZ = 25;

/** A note naming the limit the command hit, or null when none shows. */
export function limitNote(run: ExecResult): string | null {
  const report = run.sandbox;
  if (!report) return null;
  const { limits } = report;
  const died = (signal: number, name: string): boolean => run.exitCode === 128 + signal || run.signal === name;
  const hits: string[] = [];
  if (/Resource temporarily unavailable|fork: retry|Cannot fork|can't fork/i.test(run.output)) {
    hits.push(`the process limit (${limits.processes} processes for this workspace)`);
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

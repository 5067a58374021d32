/**
 * What the execute tool reports about limits (src/tools/sandbox-report.ts): the `sandbox` line says what
 * was enforced (per-workspace cgroup limits, or rlimits only), and the note names a per-workspace limit
 * from the cgroup's counters, never from output text alone.
 */
import { describeSandbox, limitNote } from '../../../src/tools/sandbox-report';
import type { ExecResult, SandboxReport } from '../../../src/workspaces/types';

const limits = { processes: 512, memoryMb: 4096, fileSizeMb: 1024, cpuSeconds: 3600, openFiles: 4096, tmpMb: 512 };
const cgroupReport: SandboxReport = {
  network: 'none',
  limits,
  cgroup: { version: 'v1', memoryMb: 2048, processes: 512, cpus: 1 },
};
const rlimitReport: SandboxReport = { network: 'none', limits, cgroup: null };

const result = (overrides: Partial<ExecResult>): ExecResult => ({
  exitCode: 0,
  signal: null,
  output: '',
  outputBytes: 0,
  timedOut: false,
  aborted: false,
  durationMs: 1,
  sandbox: cgroupReport,
  ...overrides,
});

describe('describeSandbox', () => {
  it('names the cgroup limits per workspace and the rlimits per process', () => {
    expect(describeSandbox(cgroupReport)).toBe(
      'network none; cgroup v1: memory 2048 MiB, 512 processes, 1 CPU per workspace; ' +
        'rlimits: 4096 MiB address space, 1024 MiB/file, 3600 s CPU per process; 512 MiB /tmp',
    );
    expect(
      describeSandbox({ ...cgroupReport, cgroup: { version: 'v2', memoryMb: 512, processes: 64, cpus: 0.5 } }),
    ).toMatch(/^network none; cgroup v2: memory 512 MiB, 64 processes, 0.5 CPUs per workspace; /);
  });

  it('says rlimits only, with the process limit among them, without a cgroup', () => {
    expect(describeSandbox(rlimitReport)).toBe(
      'network none; rlimits: 512 processes, 4096 MiB address space, 1024 MiB/file, 3600 s CPU per process; 512 MiB /tmp',
    );
  });
});

describe('limitNote', () => {
  it('names the workspace memory limit when the cgroup counted an OOM kill, whatever the output says', () => {
    expect(limitNote(result({ exitCode: 137, output: 'Killed', limitsHit: ['memory'] }))).toMatch(
      /memory limit \(2048 MiB for the whole workspace, background processes included; the kernel killed/,
    );
  });

  it('names the workspace process limit from the pids counter', () => {
    expect(limitNote(result({ exitCode: 1, output: 'bwrap: clone failed', limitsHit: ['processes'] }))).toMatch(
      /process limit \(512 processes for the whole workspace, background processes included\)/,
    );
  });

  it('says nothing when no counter grew and no rlimit message shows', () => {
    expect(limitNote(result({ exitCode: 137, output: 'Killed', limitsHit: [] }))).toBeNull();
  });

  it('keeps the per-process notes: address space, file size, and the fork message without a cgroup', () => {
    expect(limitNote(result({ exitCode: 1, output: 'MemoryError', limitsHit: [] }))).toMatch(
      /memory limit \(4096 MiB of address space per process\)/,
    );
    expect(limitNote(result({ exitCode: 153 }))).toMatch(/file size limit \(1024 MiB per file\)/);
    expect(limitNote(result({ sandbox: rlimitReport, output: 'sh: 1: Cannot fork' }))).toMatch(
      /process limit \(512 processes for this workspace\)/,
    );
  });
});

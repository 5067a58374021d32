/**
 * Shared setup of the workspace tool tests: a `local` provider on a fresh temp directory, a tool context
 * for a chat, and liveness checks for process ids. Each test file owns its temp directories and removes
 * them (and kills every process it started) in `cleanup`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createWorkspaceTools } from '../../../src/tools';
import { buildToolRegistry, type ToolRegistry } from '../../../src/tools/registry';
import type { ToolContext, ToolOutput } from '../../../src/tools/types';
import { LocalWorkspaceProvider, type LocalProviderOptions } from '../../../src/workspaces/local.provider';
import type { Workspace } from '../../../src/workspaces/types';

export interface Harness {
  dir: string;
  provider: LocalWorkspaceProvider;
  workspace: Workspace;
  registry: ToolRegistry;
  /** Calls a tool through the registry as chat `chatId` (default `chat-a`). */
  call(
    name: string,
    input: Record<string, unknown>,
    opts?: { chatId?: string; signal?: AbortSignal },
  ): Promise<ToolOutput>;
  cleanup(): Promise<void>;
}

/** A provider on a new temp dir with one running workspace, and the workspace tools in a registry. */
export async function createHarness(options: Partial<LocalProviderOptions> = {}): Promise<Harness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chatd-tools-'));
  const provider = new LocalWorkspaceProvider({ baseDir: path.join(dir, 'workspaces'), sandbox: 'none', ...options });
  const info = await provider.create({ templateId: 'empty' });
  const workspace = await provider.connect(info.id);
  const registry = buildToolRegistry(createWorkspaceTools());
  let n = 0;
  return {
    dir,
    provider,
    workspace,
    registry,
    call: (name, input, opts = {}) =>
      registry.execute({ id: `call-${++n}`, name, input }, context(workspace, opts.chatId ?? 'chat-a', opts.signal)),
    cleanup: async () => {
      await provider.dispose();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A tool context for `chatId` in `workspace`. */
export function context(workspace: Workspace | null, chatId = 'chat-a', signal?: AbortSignal): ToolContext {
  return {
    chatId,
    toolCallId: 'call-x',
    signal: signal ?? new AbortController().signal,
    workspace,
    heartbeat: () => undefined,
  };
}

/** The result of a tool output as a record, for property assertions. */
export const resultOf = (output: ToolOutput): Record<string, unknown> => output.result as Record<string, unknown>;

/**
 * Whether `pid` is a live process. A zombie counts as gone: a killed process whose parent already exited
 * is reparented to PID 1, and some container inits never reap it, so `kill(pid, 0)` alone would still
 * succeed long after the process died.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return process.platform !== 'linux';
  }
}

/** Polls `predicate` every 20 ms until it holds; throws after `timeoutMs`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Extracts the first integer on a line of its own in `output` (the tests echo `$!` that way). */
export function pidIn(output: unknown): number {
  const match = /^(\d+)$/m.exec(String(output));
  if (!match) throw new Error(`no pid in output: ${String(output)}`);
  return Number(match[1]);
}

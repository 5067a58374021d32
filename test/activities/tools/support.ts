/**
 * Shared setup of the workspace tool tests: a `local` provider on a fresh temp directory, a tool context
 * for a chat, and liveness checks for process ids. Each test file owns its temp directories and removes
 * them (and kills every process it started) in `cleanup`.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
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
  // Sandboxes run as their workspace's own uid, which must be able to traverse to the workspace.
  await chmod(dir, 0o711);
  const provider = new LocalWorkspaceProvider({ baseDir: path.join(dir, 'workspaces'), ...options });
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
 * A `sleep` duration no other process uses. Commands run in their own PID namespace, so the pid they
 * echo means nothing on the host; a test finds its process there by this command line instead.
 */
export function uniqueSleep(): string {
  return `300.${String(process.pid).padStart(7, '0')}${Math.floor(Math.random() * 1e6)}`;
}

/**
 * Whether a `sleep <duration>` process is alive on the host. A zombie counts as gone: a killed process
 * whose parent already exited is reparented, and some container inits never reap it.
 */
export function sleeping(duration: string): boolean {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8') !== `sleep\0${duration}\0`) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
      if (state !== 'Z' && state !== 'X') return true;
    } catch {
      // exited while we looked
    }
  }
  return false;
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

/**
 * How the process tools present a process to the model (snake_case JSON), and their shared
 * "not found" answer. Kept apart so the three process tools describe processes identically.
 */
import type { ProcessInfo } from '../workspaces/types';
import { toolError, type ToolOutput } from './types';

/** The JSON shape of a process in tool results. */
export interface ProcessView {
  process_id: string;
  command: string;
  status: ProcessInfo['status'];
  exit_code: number | null;
  signal: string | null;
  started_at: string;
  ended_at: string | null;
}

/** Presents `info` to the model. */
export function processView(info: ProcessInfo): ProcessView {
  return {
    process_id: info.id,
    command: info.command,
    status: info.status,
    exit_code: info.exitCode,
    signal: info.signal,
    started_at: info.startedAt,
    ended_at: info.endedAt,
  };
}

/** The answer for an id that does not exist in this chat (including processes of other chats). */
export function processNotFound(processId: string): ToolOutput {
  return toolError(`No process "${processId}" was found in this chat. Use process_list to see this chat's processes.`);
}

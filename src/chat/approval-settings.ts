/**
 * A chat's own approval settings (docs/tool-approval.md "Policy"): the tools it asks about beyond the
 * admin's policy, set on create and update, and the tools its user approved for the rest of the chat.
 */
import type { ChatRow } from '../db/database';
import { ASK_EVERY_TOOL } from '../turn/tool-approval-policy';

/** An ask list as stored: without duplicates, and just `*` when it asks about every tool. */
export function askList(ask: readonly string[]): string[] {
  return ask.includes(ASK_EVERY_TOOL) ? [ASK_EVERY_TOOL] : [...new Set(ask)];
}

/**
 * The columns that replace the chat's ask list: a tool the list names (every tool, for `*`) is no longer
 * approved for the rest of the chat, so asking again takes effect from the next call.
 */
export function askingMore(
  chat: Pick<ChatRow, 'tool_approval_granted'>,
  ask: readonly string[],
): Pick<ChatRow, 'tool_approval_ask' | 'tool_approval_granted'> {
  const list = askList(ask);
  const granted = list.includes(ASK_EVERY_TOOL) ? [] : chat.tool_approval_granted.filter((t) => !list.includes(t));
  return { tool_approval_ask: list, tool_approval_granted: granted };
}

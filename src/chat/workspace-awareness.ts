/**
 * The workspace-awareness message: a system message stored with a chat's first messages,
 * visible to the model only (`visibility` `model`: prompts include it, GET /messages and the stream
 * never show it). It tells the model whether a workspace is attached, so its first move is to use
 * that workspace or to create one, instead of calling file tools that can only fail.
 */
import type { NewChatMessageRow, WorkspaceRow } from '../db/database';
import { messageRow } from '../messages/rows';

/** Longest workspace name or template id quoted in the message. */
const MAX_QUOTED = 100;

/** A name as quoted to the model: one line, no quotes to break out of, bounded. */
function quoted(value: string): string {
  const line = value
    .replace(/[\p{Cc}\p{Zl}\p{Zp}]+/gu, ' ')
    .replace(/"/g, "'")
    .trim();
  return `"${line.length > MAX_QUOTED ? `${line.slice(0, MAX_QUOTED)}…` : line}"`;
}

/**
 * The text of the message. `workspace` is the attached workspace (null: none). `subagent`: the chat
 * is a sub-agent, which works in its parent's workspace and cannot create one.
 */
export function workspaceAwarenessText(
  workspace: Pick<WorkspaceRow, 'name' | 'template_id'> | null,
  subagent = false,
): string {
  if (workspace) {
    return (
      `This chat is attached to the workspace ${quoted(workspace.name)}, built from the template ` +
      `${quoted(workspace.template_id)}. The file and command tools (read_file, write_file, edit_files, ` +
      'execute and the process tools) act in it.' +
      (subagent ? '' : ' Do not create another workspace; if it is stopped, start it with start_workspace.')
    );
  }
  if (subagent) {
    return (
      'No workspace is attached to this chat, so the file and command tools cannot run; ' +
      'answer from the conversation and say so if the task needs files.'
    );
  }
  return (
    'No workspace is attached to this chat yet. Before using the file or command tools (read_file, ' +
    'write_file, edit_files, execute and the process tools), create one with create_workspace ' +
    '(list_templates shows the templates it can be built from).'
  );
}

/** The awareness message row of a new chat (turn 1, before its first user message). */
export function workspaceAwarenessRow(
  chat: { id: string; turn: number; last_model_config_id: string },
  workspace: Pick<WorkspaceRow, 'name' | 'template_id'> | null,
  subagent = false,
): NewChatMessageRow {
  return messageRow({
    chatId: chat.id,
    turn: chat.turn,
    role: 'system',
    visibility: 'model',
    content: [{ type: 'text', text: workspaceAwarenessText(workspace, subagent) }],
    modelConfigId: chat.last_model_config_id,
  });
}

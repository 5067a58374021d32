/**
 * The Messages API's checks of a request's conversation (`POST /v1/messages`), with the real API's error
 * texts. The API merges consecutive messages of one role into one turn before it pairs tool calls with
 * their results, so the pairing rules below work on merged turns; positions in the messages still name the
 * message as sent. What the API accepts is accepted here too: consecutive same-role messages, and an
 * assistant message first (the first-party API has allowed both since late 2024; Amazon Bedrock still
 * refuses them).
 */
import type { InvalidRequest } from './errors';
import { asArray, asRecord } from './request';

type Json = Record<string, unknown>;

/** A content block and where it was sent: `messages.<message>.content.<index>`. */
interface Located {
  block: Json;
  message: number;
  index: number;
}

/** Consecutive messages of one role, merged. */
interface Turn {
  role: unknown;
  blocks: Located[];
}

/** The result block type of each server tool whose pairing is checked (other server tools are not). */
const SERVER_TOOL_RESULTS: Record<string, string> = {
  web_search: 'web_search_tool_result',
  web_fetch: 'web_fetch_tool_result',
  code_execution: 'code_execution_tool_result',
};
const SERVER_RESULT_TYPES = new Set(Object.values(SERVER_TOOL_RESULTS));

/** String content is shorthand for one text block. */
function blocksOf(content: unknown): Json[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return asArray(content).map(asRecord);
}

/** Every message but an optional final assistant one needs content. */
function emptyContent(messages: Json[]): InvalidRequest | null {
  for (const [i, m] of messages.entries()) {
    const finalAssistant = i === messages.length - 1 && m.role === 'assistant';
    if (Array.isArray(m.content) && m.content.length === 0 && !finalAssistant) {
      return {
        message: `messages.${i}: all messages must have non-empty content except for the optional final assistant message`,
      };
    }
  }
  return null;
}

function blankTextIn(blocks: Json[]): InvalidRequest | null {
  for (const block of blocks) {
    if (block.type === 'text' && typeof block.text === 'string') {
      if (block.text === '') return { message: 'messages: text content blocks must be non-empty' };
      if (block.text.trim() === '')
        return { message: 'messages: text content blocks must contain non-whitespace text' };
    }
    // A tool result's content may itself be a list of blocks; its text blocks follow the same rule.
    if (block.type === 'tool_result' && Array.isArray(block.content)) {
      const nested = blankTextIn(block.content.map(asRecord));
      if (nested) return nested;
    }
  }
  return null;
}

/** Text blocks must hold text, and not only whitespace. */
function blankText(messages: Json[]): InvalidRequest | null {
  for (const m of messages) {
    const found = blankTextIn(blocksOf(m.content));
    if (found) return found;
  }
  return null;
}

function toTurns(messages: Json[]): Turn[] {
  const turns: Turn[] = [];
  for (const [i, m] of messages.entries()) {
    const blocks = blocksOf(m.content).map((block, index) => ({ block, message: i, index }));
    const last = turns.at(-1);
    if (last && last.role === m.role) last.blocks.push(...blocks);
    else turns.push({ role: m.role, blocks });
  }
  return turns;
}

const ofType = (turn: Turn | undefined, type: string): Located[] =>
  turn ? turn.blocks.filter((b) => b.block.type === type) : [];

/** A server tool's call and its result both sit in the assistant turn, the result after the call. */
function serverToolPairs(turn: Turn): InvalidRequest | null {
  for (const [k, { block, message, index }] of turn.blocks.entries()) {
    if (block.type === 'server_tool_use') {
      const name = String(block.name);
      const resultType = SERVER_TOOL_RESULTS[name];
      if (resultType === undefined) continue;
      const answered = turn.blocks
        .slice(k + 1)
        .some((r) => r.block.type === resultType && r.block.tool_use_id === block.id);
      if (!answered) {
        return {
          message: `messages.${message}: \`${name}\` tool use with id \`${String(block.id)}\` was found without a corresponding \`${resultType}\` block`,
        };
      }
    } else if (typeof block.type === 'string' && SERVER_RESULT_TYPES.has(block.type)) {
      const called = turn.blocks
        .slice(0, k)
        .some((c) => c.block.type === 'server_tool_use' && c.block.id === block.tool_use_id);
      if (!called) {
        return {
          message: `messages.${message}.content.${index}: unexpected \`tool_use_id\` found in \`${block.type}\` blocks: ${String(block.tool_use_id)}. Each \`${block.type}\` block must have a corresponding \`server_tool_use\` block before it.`,
        };
      }
    }
  }
  return null;
}

/**
 * Each `tool_use` of an assistant turn is answered by a `tool_result` in the very next (user) turn, and each
 * `tool_result` answers a `tool_use` of the turn right before it.
 */
function toolPairs(turns: Turn[]): InvalidRequest | null {
  for (const [t, turn] of turns.entries()) {
    if (turn.role === 'assistant') {
      const server = serverToolPairs(turn);
      if (server) return server;
      const next = turns[t + 1];
      const answered = new Set(
        next?.role === 'user' ? ofType(next, 'tool_result').map((r) => r.block.tool_use_id) : [],
      );
      const missing = ofType(turn, 'tool_use').filter((u) => !answered.has(u.block.id));
      if (missing.length > 0) {
        return {
          message: `messages.${missing[0]!.message}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.map((u) => String(u.block.id)).join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
        };
      }
    } else if (turn.role === 'user') {
      const prev = turns[t - 1];
      const offered = new Set(prev?.role === 'assistant' ? ofType(prev, 'tool_use').map((u) => u.block.id) : []);
      const orphan = ofType(turn, 'tool_result').find((r) => !offered.has(r.block.tool_use_id));
      if (orphan) {
        return {
          message: `messages.${orphan.message}.content.${orphan.index}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(orphan.block.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
        };
      }
    }
  }
  return null;
}

/** The first reason the Messages API would refuse this request body, or null when it would accept it. */
export function validateAnthropicRequest(body: Json): InvalidRequest | null {
  const messages = asArray(body.messages).map(asRecord);
  return emptyContent(messages) ?? blankText(messages) ?? toolPairs(toTurns(messages));
}

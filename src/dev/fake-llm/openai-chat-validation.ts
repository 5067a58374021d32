/**
 * Chat Completions' checks of a request's messages (`POST /v1/chat/completions`), with the real API's
 * error texts (the first one keeps OpenAI's spelling "preceeding"): a `tool` message answers a call of
 * the assistant message right before its run of tool messages, and an assistant message with `tool_calls`
 * is followed by a tool message for each call.
 */
import type { InvalidRequest } from './errors';
import { asArray, asRecord } from './request';

type Json = Record<string, unknown>;

const callIds = (message: Json): unknown[] => asArray(message.tool_calls).map((c) => asRecord(c).id);

/** The first reason Chat Completions would refuse this request body, or null when it would accept it. */
export function validateChatRequest(body: Json): InvalidRequest | null {
  const messages = asArray(body.messages).map(asRecord);
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === 'tool') {
      return {
        message:
          "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
        param: `messages.[${i}].role`,
      };
    }
    const calls = m.role === 'assistant' ? callIds(m) : [];
    if (calls.length === 0) continue;
    // The run of tool messages answering this assistant message.
    const answered = new Set<unknown>();
    let j = i + 1;
    for (; j < messages.length && messages[j]!.role === 'tool'; j++) {
      const id = messages[j]!.tool_call_id;
      if (!calls.includes(id)) {
        return {
          message: `Invalid parameter: 'tool_call_id' of '${String(id)}' not found in 'tool_calls' of previous message.`,
          param: `messages.[${j}].tool_call_id`,
        };
      }
      answered.add(id);
    }
    const missing = calls.filter((id) => !answered.has(id));
    if (missing.length > 0) {
      return {
        message: `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${missing.map(String).join(', ')}`,
        param: `messages.[${Math.min(j, messages.length - 1)}].role`,
      };
    }
    i = j - 1;
  }
  return null;
}

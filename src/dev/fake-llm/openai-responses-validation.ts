/**
 * The Responses API's checks of a request's input items (`POST /v1/responses`), with the real API's error
 * texts (all `param: "input"`): a replayed reasoning item must be followed by the output item it produced,
 * and a `function_call_output` must answer a `function_call` sent earlier in the input. A request that
 * continues a stored response (`previous_response_id`, `conversation`) may answer calls the input does not
 * hold, so the second check is skipped for it.
 */
import type { InvalidRequest } from './errors';
import { asArray, asRecord } from './request';

type Json = Record<string, unknown>;

/** Item types a model produces, so one can follow the reasoning that led to it. */
const OUTPUT_ITEM_TYPES = new Set([
  'reasoning',
  'function_call',
  'custom_tool_call',
  'web_search_call',
  'file_search_call',
  'computer_call',
  'code_interpreter_call',
  'image_generation_call',
  'local_shell_call',
  'shell_call',
  'apply_patch_call',
  'mcp_call',
  'mcp_list_tools',
  'mcp_approval_request',
]);

/** An assistant message (typed, or the easy `{role, content}` form) or another output item. */
function isOutputItem(item: Json | undefined): boolean {
  if (!item) return false;
  const type = item.type ?? 'message';
  if (type === 'message') return item.role === 'assistant';
  return typeof type === 'string' && OUTPUT_ITEM_TYPES.has(type);
}

function reasoningWithoutItem(items: Json[]): InvalidRequest | null {
  for (const [i, item] of items.entries()) {
    if (item.type === 'reasoning' && !isOutputItem(items[i + 1])) {
      return {
        message: `Item '${String(item.id)}' of type 'reasoning' was provided without its required following item.`,
        param: 'input',
      };
    }
  }
  return null;
}

function outputWithoutCall(items: Json[]): InvalidRequest | null {
  const calls = new Set<unknown>();
  for (const item of items) {
    if (item.type === 'function_call') calls.add(item.call_id);
    if (item.type === 'function_call_output' && !calls.has(item.call_id)) {
      return {
        message: `No tool call found for function call output with call_id ${String(item.call_id)}.`,
        param: 'input',
      };
    }
  }
  return null;
}

/** The first reason the Responses API would refuse this request body, or null when it would accept it. */
export function validateResponsesRequest(body: Json): InvalidRequest | null {
  const items = asArray(body.input).map(asRecord);
  const continues = typeof body.previous_response_id === 'string' || body.conversation !== undefined;
  return reasoningWithoutItem(items) ?? (continues ? null : outputWithoutCall(items));
}

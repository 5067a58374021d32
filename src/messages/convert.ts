/**
 * Conversions between the provider-neutral model types (src/llm/types.ts) and ChatMessagePart, the
 * persisted and wire format. Kept in one place so the two formats cannot drift apart.
 */
import type { ModelAssistantPart, ModelStreamEvent } from '../llm/types';
import type { ChatMessagePart } from './parts';

/** An assistant part as it is persisted (signatures kept as internal fields). */
export function assistantPartToChat(part: ModelAssistantPart): ChatMessagePart {
  switch (part.type) {
    case 'text':
      return { type: 'text', text: part.text };
    case 'reasoning': {
      const metadata: Record<string, unknown> = {};
      if (part.redactedData !== undefined) metadata.redacted_data = part.redactedData;
      if (part.providerItemId !== undefined) metadata.item_id = part.providerItemId;
      return {
        type: 'reasoning',
        text: part.text,
        ...(part.signature !== undefined ? { signature: part.signature } : {}),
        ...(Object.keys(metadata).length ? { provider_metadata: metadata } : {}),
      };
    }
    case 'tool-call':
      return {
        type: 'tool-call',
        tool_call_id: part.id,
        tool_name: part.name,
        args: part.input,
        ...(part.providerExecuted ? { provider_executed: true } : {}),
        // Kept (internally) so the tool step can answer malformed arguments with the parse error.
        ...(part.invalidInput ? { provider_metadata: { invalid_input: part.invalidInput } } : {}),
      };
    case 'tool-result':
      return {
        type: 'tool-result',
        tool_call_id: part.id,
        tool_name: part.name,
        result: part.result,
        is_error: part.isError,
        provider_executed: true,
      };
    case 'source':
      return { type: 'source', source_id: part.id, url: part.url, ...(part.title ? { title: part.title } : {}) };
  }
}

/** A streamed delta as the `part` of a `message_part` event (already free of internal fields). */
export function streamEventToPart(event: ModelStreamEvent): ChatMessagePart {
  switch (event.type) {
    case 'text-delta':
      return { type: 'text', text: event.delta };
    case 'reasoning-delta':
      return { type: 'reasoning', text: event.delta };
    case 'tool-call-start':
      return { type: 'tool-call', tool_call_id: event.id, tool_name: event.name, args_delta: '' };
    case 'tool-call-delta':
      return { type: 'tool-call', tool_call_id: event.id, args_delta: event.delta };
    case 'tool-call':
    case 'tool-result':
    case 'source':
      return assistantPartToChat(event);
  }
}

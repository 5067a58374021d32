/**
 * Rebuilds the assistant message of a step from its stream events. On success the provider's own
 * result is used; this exists for the interrupted path, where the partial output streamed so far
 * must be persisted (text, reasoning, finished and half-finished tool calls).
 */
import type { ModelAssistantPart, ModelStreamEvent } from '../llm/types';

export class StepAccumulator {
  private readonly parts: ModelAssistantPart[] = [];
  private readonly pendingArgs = new Map<string, { name: string; args: string; providerExecuted?: boolean }>();

  add(event: ModelStreamEvent): void {
    const last = this.parts.at(-1);
    switch (event.type) {
      case 'text-delta':
        if (last?.type === 'text') last.text += event.delta;
        else this.parts.push({ type: 'text', text: event.delta });
        break;
      case 'reasoning-delta':
        if (last?.type === 'reasoning') last.text += event.delta;
        else this.parts.push({ type: 'reasoning', text: event.delta });
        break;
      case 'tool-call-start':
        this.pendingArgs.set(event.id, { name: event.name, args: '', providerExecuted: event.providerExecuted });
        break;
      case 'tool-call-delta': {
        const pending = this.pendingArgs.get(event.id);
        if (pending) pending.args += event.delta;
        break;
      }
      case 'tool-call':
        this.pendingArgs.delete(event.id);
        this.parts.push({ ...event, type: 'tool-call' });
        break;
      case 'tool-result':
      case 'source':
        this.parts.push({ ...event });
        break;
    }
  }

  /** Everything so far; tool calls cut off mid-arguments are kept with whatever input parses. */
  snapshot(): ModelAssistantPart[] {
    const unfinished: ModelAssistantPart[] = [...this.pendingArgs].map(([id, p]) => ({
      type: 'tool-call',
      id,
      name: p.name,
      input: parseObject(p.args),
      ...(p.providerExecuted ? { providerExecuted: true } : {}),
    }));
    return [...this.parts.map((p) => ({ ...p })), ...unfinished];
  }
}

function parseObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/**
 * An MCP tool result as the model sees it (docs/mcp.md "Results"). Tool results reach every provider as
 * JSON text (src/llm/step-stream.ts toolResultText), so content the model cannot read there, images and
 * audio and binary resources, becomes a short note saying what was returned; the bytes are never stored.
 * Text is capped so one call cannot flood the context. Pure.
 */
import type { CallToolResult, ContentBlock } from '@modelcontextprotocol/sdk/types.js';
import { capOutput } from '../tools/output';
import type { ToolOutput } from '../tools/types';

/** The budget of all text of one result (text blocks, embedded text resources, structured content), in bytes. */
export const MAX_RESULT_TEXT_BYTES = 64 * 1024;

/** One content block as stored and shown to the model. */
export type MappedBlock =
  | { type: 'text'; text: string }
  | { type: 'image' | 'audio'; media_type: string; note: string }
  | {
      type: 'resource_link';
      uri: string;
      name: string;
      title?: string;
      description?: string;
      media_type?: string;
    }
  | { type: 'resource'; uri: string; media_type?: string; text?: string; note?: string }
  | { type: 'unsupported'; note: string };

const base64Bytes = (data: string): number => {
  const padding = data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((data.length * 3) / 4) - padding);
};

/** Spends a shared byte budget on texts, cutting the one that crosses it and noting the cut. */
class TextBudget {
  private left = MAX_RESULT_TEXT_BYTES;
  truncated = false;

  take(text: string): string {
    const capped = capOutput(text, { maxBytes: this.left, keep: 'head' });
    this.left -= Buffer.byteLength(capped.text);
    if (capped.truncated) this.truncated = true;
    return capped.text;
  }
}

function mapBlock(block: ContentBlock, budget: TextBudget): MappedBlock {
  switch (block.type) {
    case 'text':
      return { type: 'text', text: budget.take(block.text) };
    case 'image':
    case 'audio':
      return {
        type: block.type,
        media_type: block.mimeType,
        note:
          `The tool returned ${block.type === 'image' ? 'an image' : 'audio'} (${block.mimeType}, ` +
          `${base64Bytes(block.data)} bytes); it cannot be shown here.`,
      };
    case 'resource_link':
      return {
        type: 'resource_link',
        uri: block.uri,
        name: block.name,
        ...(block.title ? { title: block.title } : {}),
        ...(block.description ? { description: block.description } : {}),
        ...(block.mimeType ? { media_type: block.mimeType } : {}),
      };
    case 'resource': {
      const resource = block.resource;
      const mediaType = resource.mimeType ? { media_type: resource.mimeType } : {};
      if ('text' in resource && typeof resource.text === 'string') {
        return { type: 'resource', uri: resource.uri, ...mediaType, text: budget.take(resource.text) };
      }
      const bytes = 'blob' in resource && typeof resource.blob === 'string' ? base64Bytes(resource.blob) : 0;
      return {
        type: 'resource',
        uri: resource.uri,
        ...mediaType,
        note: `A binary resource of ${bytes} bytes; its content cannot be shown here.`,
      };
    }
    default:
      return { type: 'unsupported', note: `The tool returned content of an unsupported type.` };
  }
}

/**
 * Maps a `tools/call` result. A result of text blocks only (no structured content) becomes the text itself,
 * joined by newlines; anything else an object `{ content, structured_content? }`. `isError` results become
 * `{ error, … }` error results, the error being the text of the result.
 */
export function toToolOutput(result: Pick<CallToolResult, 'content' | 'structuredContent' | 'isError'>): ToolOutput {
  const budget = new TextBudget();
  const blocks = (result.content ?? []).map((block) => mapBlock(block, budget));
  let structured: unknown;
  if (result.structuredContent !== undefined) {
    const json = JSON.stringify(result.structuredContent);
    structured =
      Buffer.byteLength(json) <= MAX_RESULT_TEXT_BYTES
        ? result.structuredContent
        : { note: `Structured content of ${Buffer.byteLength(json)} bytes was left out: it is too large.` };
  }
  const texts = blocks.filter((b): b is Extract<MappedBlock, { type: 'text' }> => b.type === 'text');
  const joined = texts.map((b) => b.text).join('\n');
  const onlyText = texts.length === blocks.length && structured === undefined;
  const truncation = budget.truncated ? { truncated: `The output was cut at ${MAX_RESULT_TEXT_BYTES} bytes.` } : {};

  if (result.isError) {
    const others = blocks.filter((b) => b.type !== 'text');
    return {
      isError: true,
      result: {
        error: joined || 'The tool reported an error without a message.',
        ...(others.length > 0 ? { content: others } : {}),
        ...(structured !== undefined ? { structured_content: structured } : {}),
        ...truncation,
      },
    };
  }
  if (onlyText && !budget.truncated) return { isError: false, result: joined };
  if (onlyText) return { isError: false, result: { text: joined, ...truncation } };
  return {
    isError: false,
    result: {
      content: blocks,
      ...(structured !== undefined ? { structured_content: structured } : {}),
      ...truncation,
    },
  };
}

/**
 * MCP tool results as the model sees them: tool results reach every provider as JSON text, so media
 * becomes a note (its bytes are never stored), resources keep their uri and text, and errors follow the
 * `{ error }` convention of every other tool.
 */
import { MAX_RESULT_TEXT_BYTES, toToolOutput } from '../../../src/mcp/results';

describe('MCP tool results', () => {
  it('gives plain text results as the text itself', () => {
    expect(
      toToolOutput({
        content: [
          { type: 'text', text: 'one' },
          { type: 'text', text: 'two' },
        ],
      }),
    ).toEqual({ result: 'one\ntwo', isError: false });
  });

  it('describes images and audio instead of passing their bytes', () => {
    const output = toToolOutput({
      content: [
        { type: 'image', data: 'aGVsbG8=', mimeType: 'image/png' },
        { type: 'audio', data: 'AAAA', mimeType: 'audio/wav' },
      ],
    });
    expect(output.result).toEqual({
      content: [
        {
          type: 'image',
          media_type: 'image/png',
          note: 'The tool returned an image (image/png, 5 bytes); it cannot be shown here.',
        },
        {
          type: 'audio',
          media_type: 'audio/wav',
          note: 'The tool returned audio (audio/wav, 3 bytes); it cannot be shown here.',
        },
      ],
    });
    expect(JSON.stringify(output)).not.toContain('aGVsbG8');
  });

  it('keeps resource links and embedded text resources, and notes binary ones', () => {
    const output = toToolOutput({
      content: [
        { type: 'resource_link', uri: 'file:///a.txt', name: 'a', mimeType: 'text/plain', description: 'A file' },
        { type: 'resource', resource: { uri: 'file:///b.txt', mimeType: 'text/plain', text: 'bee' } },
        { type: 'resource', resource: { uri: 'file:///c.bin', blob: 'AAAA' } },
      ],
    });
    expect(output.result).toEqual({
      content: [
        { type: 'resource_link', uri: 'file:///a.txt', name: 'a', media_type: 'text/plain', description: 'A file' },
        { type: 'resource', uri: 'file:///b.txt', media_type: 'text/plain', text: 'bee' },
        {
          type: 'resource',
          uri: 'file:///c.bin',
          note: 'A binary resource of 3 bytes; its content cannot be shown here.',
        },
      ],
    });
  });

  it('passes structured content beside the content', () => {
    expect(toToolOutput({ content: [{ type: 'text', text: '{"t":1}' }], structuredContent: { t: 1 } })).toEqual({
      isError: false,
      result: { content: [{ type: 'text', text: '{"t":1}' }], structured_content: { t: 1 } },
    });
  });

  it('turns isError results into error results carrying the text', () => {
    expect(toToolOutput({ content: [{ type: 'text', text: 'No such issue.' }], isError: true })).toEqual({
      isError: true,
      result: { error: 'No such issue.' },
    });
    expect(toToolOutput({ content: [], isError: true }).result).toEqual({
      error: 'The tool reported an error without a message.',
    });
  });

  it('caps the text of one result and says so', () => {
    const output = toToolOutput({
      content: [
        { type: 'text', text: 'a'.repeat(MAX_RESULT_TEXT_BYTES) },
        { type: 'text', text: 'b'.repeat(100) },
      ],
    });
    const result = output.result as { text: string; truncated: string };
    expect(Buffer.byteLength(result.text)).toBeLessThanOrEqual(MAX_RESULT_TEXT_BYTES + 1);
    expect(result.truncated).toMatch(/cut/);
  });
});

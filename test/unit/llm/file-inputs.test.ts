/**
 * User files on the wire: each protocol's exact shape for images and PDFs, and the notes that replace a
 * file the provider would refuse. A refused file must never reach the provider: the whole request would
 * fail, and since every later request repeats the history, the chat could never run another turn.
 */
import { toAnthropicMessages } from '../../../src/llm/anthropic.provider';
import {
  ANTHROPIC_FILE_LIMITS,
  base64Bytes,
  fileNote,
  OPENAI_COMPAT_FILE_LIMITS,
  OPENAI_FILE_LIMITS,
  planFileInputs,
} from '../../../src/llm/file-inputs';
import { toChatMessages } from '../../../src/llm/openai-chat';
import { toResponsesInput } from '../../../src/llm/openai-responses';
import type { ModelFilePart, ModelMessage } from '../../../src/llm/types';
import { buildPrompt } from '../../../src/turn/prompt';

/** The base64 of a PNG whose header declares `width`×`height`, padded to `bytes` bytes. */
function pngData(width: number, height: number, bytes = 64): string {
  const header = Buffer.alloc(24);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(header);
  header.writeUInt32BE(13, 8);
  header.write('IHDR', 12, 'latin1');
  header.writeUInt32BE(width, 16);
  header.writeUInt32BE(height, 20);
  const out = Buffer.alloc(Math.max(bytes, 24));
  header.copy(out);
  return out.toString('base64');
}

const PDF_DATA = Buffer.from('%PDF-1.7\n%%EOF\n').toString('base64');
const png = (name: string, data = pngData(10, 10)): ModelFilePart => ({
  type: 'file',
  mediaType: 'image/png',
  data,
  name,
});
const pdf = (name: string, data = PDF_DATA): ModelFilePart => ({
  type: 'file',
  mediaType: 'application/pdf',
  data,
  name,
});
const user = (...content: Array<ModelFilePart | string>): ModelMessage => ({
  role: 'user',
  content: content.map((c) => (typeof c === 'string' ? { type: 'text' as const, text: c } : c)),
});

describe('user files on each wire protocol', () => {
  const image = png('photo.png');
  const doc = pdf('report.pdf');
  const messages: ModelMessage[] = [user('What is in these?', image, doc)];

  it('Anthropic: an image block with a base64 source and a PDF document block named after the file', () => {
    expect(toAnthropicMessages(messages)).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: image.data } },
          {
            type: 'document',
            source: { type: 'base64', media_type: 'application/pdf', data: PDF_DATA },
            title: 'report.pdf',
          },
        ],
      },
    ]);
  });

  it('OpenAI Responses: input_image and input_file, both as data URLs', () => {
    expect(toResponsesInput(messages, false, OPENAI_FILE_LIMITS)).toEqual([
      {
        role: 'user',
        content: [
          { type: 'input_text', text: 'What is in these?' },
          { type: 'input_image', image_url: `data:image/png;base64,${image.data}`, detail: 'auto' },
          { type: 'input_file', filename: 'report.pdf', file_data: `data:application/pdf;base64,${PDF_DATA}` },
        ],
      },
    ]);
  });

  it('OpenAI Chat Completions: image_url and a file part for the PDF', () => {
    expect(toChatMessages(messages, OPENAI_FILE_LIMITS)).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${image.data}` } },
          { type: 'file', file: { filename: 'report.pdf', file_data: `data:application/pdf;base64,${PDF_DATA}` } },
        ],
      },
    ]);
  });

  it('OpenAI-compatible servers get images but a note instead of a PDF, as plain text when nothing else is left', () => {
    const note = fileNote('report.pdf', 'application/pdf', 'this model provider does not read application/pdf files');
    expect(note).toBe('[file report.pdf could not be sent: this model provider does not read application/pdf files]');
    expect(toChatMessages([user('Summarise', doc)], OPENAI_COMPAT_FILE_LIMITS)).toEqual([
      { role: 'user', content: `Summarise\n\n${note}` },
    ]);
    expect(toResponsesInput([user(doc)], false, OPENAI_COMPAT_FILE_LIMITS)).toEqual([
      { role: 'user', content: [{ type: 'input_text', text: note }] },
    ]);
    expect(toChatMessages([user(image)], OPENAI_COMPAT_FILE_LIMITS)[0]).toMatchObject({
      content: [{ type: 'image_url' }],
    });
  });
});

describe('planFileInputs', () => {
  const notes = (messages: ModelMessage[], limits = ANTHROPIC_FILE_LIMITS): string[] => [
    ...planFileInputs(messages, limits).values(),
  ];

  it('sends what fits and refuses nothing else', () => {
    expect(notes([user(png('a.png'), pdf('b.pdf'))])).toEqual([]);
  });

  it('refuses an image over Anthropic’s 5 MB of base64 text, but not one just under it', () => {
    const under = png('under.png', pngData(10, 10, (5 * 1024 * 1024 * 3) / 4));
    const over = png('over.png', pngData(10, 10, (5 * 1024 * 1024 * 3) / 4 + 3));
    expect(under.data.length).toBe(5 * 1024 * 1024);
    expect(notes([user(under)])).toEqual([]);
    expect(notes([user(over)])).toEqual([
      '[image over.png could not be sent: it is larger than the 3.9 MB this model provider accepts per image]',
    ]);
    // OpenAI documents no such per-image limit below chatd's 10 MiB uploads.
    expect(notes([user(over)], OPENAI_FILE_LIMITS)).toEqual([]);
  });

  it('refuses an image wider or taller than 8000 pixels on Anthropic', () => {
    expect(notes([user(png('wide.png', pngData(9000, 300)), png('ok.png', pngData(8000, 8000)))])).toEqual([
      '[image wide.png could not be sent: it is larger than 8000×8000 pixels]',
    ]);
  });

  it('refuses a type the provider does not read', () => {
    const bmp: ModelFilePart = { type: 'file', mediaType: 'image/bmp', data: 'Qk0=', name: 'old.bmp' };
    expect(notes([user(bmp)])).toEqual([
      '[image old.bmp could not be sent: this model provider does not read image/bmp files]',
    ]);
  });

  it('with more than 20 images on Anthropic, refuses the oldest images over 2000 pixels until the rule holds', () => {
    const big = [png('big-old.png', pngData(3000, 100)), png('big-new.png', pngData(100, 2500))];
    const small = Array.from({ length: 20 }, (_, i) => png(`small-${i}.png`));
    // 22 images: refusing the oldest big one leaves 21, still over 20, so the newer big one goes too.
    expect(notes([user(big[0]!, ...small, big[1]!)])).toEqual([
      '[image big-old.png could not be sent: more than 20 images are attached and it is larger than 2000×2000 pixels]',
      '[image big-new.png could not be sent: more than 20 images are attached and it is larger than 2000×2000 pixels]',
    ]);
    // 21 images with one big one: only that one goes. 20 images may be of any size up to 8000 pixels.
    expect(notes([user(...small, png('big.png', pngData(2001, 10)))])).toHaveLength(1);
    expect(notes([user(...small.slice(1), png('big.png', pngData(2001, 10)))])).toEqual([]);
  });

  it('keeps the newest files when a request cannot carry them all', () => {
    // OpenAI: at most 500 images per request; the oldest give way.
    const images = Array.from({ length: 502 }, (_, i) => png(`img-${i}.png`));
    const refused = planFileInputs([user(...images.slice(0, 250)), user(...images.slice(250))], OPENAI_FILE_LIMITS);
    expect([...refused.keys()].map((p) => p.name)).toEqual(['img-1.png', 'img-0.png']);
    expect(refused.get(images[0]!)).toBe(
      '[image img-0.png could not be sent: the conversation holds more files than one request can carry, and newer ones come first]',
    );

    // Anthropic: at most 24 MB of base64 text of files per request.
    const third = (n: string): ModelFilePart => pdf(n, 'A'.repeat(9_000_000));
    const docs = [third('one.pdf'), third('two.pdf'), third('three.pdf')];
    expect(notes([user(...docs)])).toEqual([
      '[file one.pdf could not be sent: the conversation holds more files than one request can carry, and newer ones come first]',
    ]);
  });

  it('counts decoded bytes from base64 text', () => {
    expect(base64Bytes(Buffer.from('abc').toString('base64'))).toBe(3);
    expect(base64Bytes(Buffer.from('abcd').toString('base64'))).toBe(4);
    expect(base64Bytes(Buffer.from('abcde').toString('base64'))).toBe(5);
  });
});

describe('buildPrompt with files', () => {
  it('sends a file part whose bytes were loaded as a neutral file part, and skips one that was not loaded', () => {
    expect(
      buildPrompt([
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look' },
            { type: 'file', file_id: 'f1', file_name: 'photo.png', media_type: 'image/png', data: 'AAAA' },
            { type: 'file', file_id: 'f2', file_name: 'gone.png', media_type: 'image/png' },
          ],
        },
      ]),
    ).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look' },
          { type: 'file', mediaType: 'image/png', data: 'AAAA', name: 'photo.png' },
        ],
      },
    ]);
  });
});

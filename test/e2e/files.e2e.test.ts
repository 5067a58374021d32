/**
 * File uploads over HTTP: raw image bodies, checked by their bytes rather than the
 * declared type, limited to 10 MiB, and served back only to their owner with headers that keep a
 * browser from sniffing or caching them publicly. Every refusal leaves chat_files untouched.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { parseContentDispositionFileName } from '../../src/api/content-disposition';
import { MAX_FILE_BYTES } from '../../src/files/file-types';
import { startTestApp, type TestApp } from '../support/app';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { createTestUser, type TestUser } from '../support/users';

// A real 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0xff, 0xd9]);
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');

describe('files', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let member: TestUser;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
    member = await createTestUser(app);
  });

  afterAll(async () => {
    await app?.stop();
    await fake?.close();
  });

  const fileCount = async (): Promise<number> =>
    (await sql<{ n: number }>`select count(*)::int as n from chat_files`.execute(app.deps.db)).rows[0]!.n;

  const upload = (
    body: RequestInit['body'],
    headers: Record<string, string>,
    token = app.token,
    init: RequestInit & { duplex?: 'half' } = {},
  ) =>
    fetch(`${app.url}/api/v1/files`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, ...headers },
      body,
      ...init,
    });

  const download = (id: string, token = app.token) =>
    fetch(`${app.url}/api/v1/files/${id}`, { headers: { Authorization: `Bearer ${token}` } });

  const errorCode = async (res: Response): Promise<string> => ((await res.json()) as any).error.code;

  it('round-trips a PNG with its Unicode name and safe, cacheable headers', async () => {
    const name = '📷 café "1".png';
    const res = await upload(PNG, {
      'Content-Type': 'image/png',
      'Content-Disposition': `attachment; filename="cafe.png"; filename*=UTF-8''${encodeURIComponent(name)}`,
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as any;
    expect(created).toMatchObject({ name, media_type: 'image/png', size: PNG.length });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);

    const got = await download(created.id);
    expect(got.status).toBe(200);
    expect(got.headers.get('content-type')).toBe('image/png');
    expect(got.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(got.headers.get('x-content-type-options')).toBe('nosniff');
    const disposition = got.headers.get('content-disposition')!;
    expect(disposition).toMatch(/^inline; filename="[\x20-\x7e]*"; filename\*=UTF-8''/);
    expect(disposition).toContain('filename="_ caf_ _1_.png"');
    expect(parseContentDispositionFileName(disposition)).toBe(name);
    expect(Buffer.from(await got.arrayBuffer()).equals(PNG)).toBe(true);
  });

  it('truncates long names to 255 UTF-8 bytes without splitting a character', async () => {
    const name = `${'€'.repeat(100)}.png`; // 304 bytes
    const res = await upload(JPEG, {
      'Content-Type': 'image/jpeg',
      'Content-Disposition': `inline; filename*=UTF-8''${encodeURIComponent(name)}`,
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as any;
    expect(created.name).toBe('€'.repeat(85));
    const served = parseContentDispositionFileName((await download(created.id)).headers.get('content-disposition')!);
    expect(served).toBe('€'.repeat(85));
  });

  it('names an upload without Content-Disposition after its type', async () => {
    const res = await upload(PNG, { 'Content-Type': 'image/png' });
    expect(res.status).toBe(201);
    expect(((await res.json()) as any).name).toBe('image.png');
  });

  it.each([
    ['SVG', SVG, 'image/svg+xml', 'unsupported_file_type'],
    ['a text file', Buffer.from('hello'), 'text/plain', 'unsupported_file_type'],
    ['JSON', Buffer.from('{"a":1}'), 'application/json', 'unsupported_file_type'],
    ['JPEG bytes declared as PNG', JPEG, 'image/png', 'file_type_mismatch'],
    ['SVG bytes declared as PNG', SVG, 'image/png', 'file_type_mismatch'],
    ['an empty body', Buffer.alloc(0), 'image/png', 'empty_file'],
  ])('refuses %s with 400 and stores nothing', async (_what, body, type, code) => {
    const before = await fileCount();
    const res = await upload(body, { 'Content-Type': type });
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe(code);
    expect(await fileCount()).toBe(before);
  });

  it('refuses an upload without a Content-Type', async () => {
    const before = await fileCount();
    const res = await upload(new Blob([PNG]), {});
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe('unsupported_file_type');
    expect(await fileCount()).toBe(before);
  });

  it('accepts exactly 10 MiB', async () => {
    const body = Buffer.alloc(MAX_FILE_BYTES);
    PNG.copy(body);
    const res = await upload(body, { 'Content-Type': 'image/png' });
    expect(res.status).toBe(201);
    expect(((await res.json()) as any).size).toBe(MAX_FILE_BYTES);
  });

  it('refuses more than 10 MiB with 413, by Content-Length and while streaming', async () => {
    const before = await fileCount();
    const body = Buffer.alloc(MAX_FILE_BYTES + 1);
    PNG.copy(body);
    const declared = await upload(body, { 'Content-Type': 'image/png' });
    expect(declared.status).toBe(413);
    expect(await errorCode(declared)).toBe('payload_too_large');

    // Chunked: no Content-Length, so the limit must bite while reading.
    const chunk = Buffer.alloc(1024 * 1024);
    PNG.copy(chunk);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 11; i++) controller.enqueue(new Uint8Array(chunk));
        controller.close();
      },
    });
    const streamed = await upload(stream, { 'Content-Type': 'image/png' }, app.token, { duplex: 'half' });
    expect(streamed.status).toBe(413);
    expect(await errorCode(streamed)).toBe('payload_too_large');
    expect(await fileCount()).toBe(before);

    // The server is still healthy for the next upload.
    expect((await upload(PNG, { 'Content-Type': 'image/png' })).status).toBe(201);
  });

  it("answers 404 for another user's file (admins included), a missing file, and 400 for a malformed id", async () => {
    const res = await upload(PNG, { 'Content-Type': 'image/png' }, member.token);
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as any;
    expect((await download(id, member.token)).status).toBe(200);

    const other = await createTestUser(app);
    const asOther = await download(id, other.token);
    expect(asOther.status).toBe(404);
    expect(await errorCode(asOther)).toBe('file_not_found');
    expect((await download(id)).status).toBe(404);
    expect((await download(randomUUID(), member.token)).status).toBe(404);
    const malformed = await download('not-a-uuid', member.token);
    expect(malformed.status).toBe(400);
    expect(await errorCode(malformed)).toBe('validation_failed');
  });

  it('requires a token', async () => {
    const res = await fetch(`${app.url}/api/v1/files`, {
      method: 'POST',
      body: PNG,
      headers: { 'Content-Type': 'image/png' },
    });
    expect(res.status).toBe(401);
  });
});

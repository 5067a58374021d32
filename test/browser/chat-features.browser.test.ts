/**
 * More of the chat view in headless Chromium on the real stack: a tool call that waits for the user's
 * approval (approved, then denied with a reason), an attached image, pinning and archiving from the
 * list, and a failed turn's error. The approval policy is per deployment, so this file has its own app.
 */
import type { Browser } from 'playwright-core';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { error, text, toolCalls } from '../../src/dev/fake-llm/script';
import { startTestApp, type TestApp } from '../support/app';
import { currentChatId, launchBrowser, openSignedIn, sendWithEnter, withPage } from './harness';

// A real 1×1 PNG.
const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=',
  'base64',
);

type Part = {
  type: string;
  text?: string;
  file_id?: string;
  result?: unknown;
  is_error?: boolean;
  tool_call_id?: string;
};

describe('the playground chat features', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
    browser = await launchBrowser();
    const policy = await app.request('PUT', '/admin/tool-approval-policy', {
      default: 'auto',
      tools: { execute: 'ask' },
    });
    expect(policy.status).toBe(200);
  });
  afterEach(() => fake.reset());
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await fake?.close();
  });

  const parts = async (chatId: string): Promise<Part[]> =>
    (await app.request('GET', `/chats/${chatId}/messages`)).body.messages.flatMap(
      (m: { content: Part[] }) => m.content,
    );

  it('asks before a tool call runs, and runs it once approved', async () => {
    fake.enqueue(
      toolCalls([{ id: 'call_ws', name: 'create_workspace', args: { template_id: 'empty' } }]),
      toolCalls([{ id: 'call_run', name: 'execute', args: { command: 'echo approved-run' } }]),
      text('Ran it.'),
    );
    await withPage(browser, 'approve', async (page) => {
      await openSignedIn(page, app);
      await sendWithEnter(page, 'Run echo, with my approval');
      const chatId = await currentChatId(page);
      const prompt = page.getByRole('group', { name: 'Approve execute?' });
      await expect(prompt.locator('.tool-args').textContent()).resolves.toContain('echo approved-run');
      await page.locator('.chat-header .status', { hasText: 'needs approval' }).waitFor();
      await prompt.getByRole('button', { name: 'Approve', exact: true }).click();
      await page.getByText('Ran it.').waitFor();
      await prompt.waitFor({ state: 'detached' });
      const result = (await parts(chatId)).find((p) => p.type === 'tool-result' && p.tool_call_id === 'call_run')!;
      expect(result.is_error).toBe(false);
      expect(JSON.stringify(result.result)).toContain('approved-run');
    });
  });

  it('denies a tool call with a reason the model reads', async () => {
    fake.enqueue(
      toolCalls([{ id: 'call_ws2', name: 'create_workspace', args: { template_id: 'empty' } }]),
      toolCalls([{ id: 'call_rm', name: 'execute', args: { command: 'rm -rf ~' } }]),
      text('Understood, I will not.'),
    );
    await withPage(browser, 'deny', async (page) => {
      await openSignedIn(page, app);
      await sendWithEnter(page, 'Clean up');
      const chatId = await currentChatId(page);
      const prompt = page.getByRole('group', { name: 'Approve execute?' });
      await prompt.getByLabel('Reason (when denying)').fill('never delete the home directory');
      await prompt.getByRole('button', { name: 'Deny' }).click();
      await page.getByText('Understood, I will not.').waitFor();
      await page.locator('details.tool-call.tool-failed[data-tool="execute"]').waitFor();
      const result = (await parts(chatId)).find((p) => p.type === 'tool-result' && p.tool_call_id === 'call_rm')!;
      expect(result.is_error).toBe(true);
      expect(JSON.stringify(result.result)).toContain('never delete the home directory');
    });
  });

  it('sends an attached image and shows it in the stored message', async () => {
    fake.enqueue(text('A single pixel.'));
    await withPage(browser, 'image', async (page) => {
      await openSignedIn(page, app);
      await page.locator('#attach').setInputFiles({ name: 'pixel.png', mimeType: 'image/png', buffer: PNG });
      await page.getByRole('list', { name: 'Attached images' }).getByAltText('pixel.png').waitFor();
      await sendWithEnter(page, 'What is in this image?');
      const chatId = await currentChatId(page);
      await page.getByText('A single pixel.').waitFor();
      // Fetched with the token and shown from a blob: URL (the CSP allows nothing else).
      const shown = page.locator('.message.user img.attachment');
      await expect(shown.getAttribute('src')).resolves.toMatch(/^blob:/);
      await expect(shown.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).resolves.toBe(1);
      expect((await parts(chatId)).some((p) => p.type === 'file' && typeof p.file_id === 'string')).toBe(true);
      // The model got the image with the text.
      expect(JSON.stringify(fake.requests.at(-1)!.body)).toContain('image');
    });
  });

  it('pins and archives a chat from the list', async () => {
    fake.enqueue(text('Pinned answer.'));
    await withPage(browser, 'pin-archive', async (page) => {
      await openSignedIn(page, app);
      await sendWithEnter(page, 'Pin me');
      const chatId = await currentChatId(page);
      await page.getByText('Pinned answer.').waitFor();
      const row = page.locator(`.chat-list li[data-chat-id="${chatId}"]`);
      await row.getByRole('button', { name: /^Pin / }).click();
      await row.getByRole('button', { name: /^Unpin / }).waitFor();
      expect((await app.request('GET', `/chats/${chatId}`)).body.pin_order).toBe(1);
      await row.getByRole('button', { name: /^Archive / }).click();
      await row.waitFor({ state: 'detached' });
      expect((await app.request('GET', `/chats/${chatId}`)).body.archived).toBe(true);
      await page.getByLabel('Archived').check();
      await page.locator(`.chat-list li[data-chat-id="${chatId}"]`).waitFor();
    });
  });

  it("shows a failed turn's error", async () => {
    fake.enqueue(error(401, { message: 'invalid api key' }));
    await withPage(browser, 'turn-error', async (page) => {
      await openSignedIn(page, app);
      await sendWithEnter(page, 'This will fail');
      await page.locator('.chat-header .status', { hasText: 'error' }).waitFor();
      await expect(page.locator('.notice.error').textContent()).resolves.toMatch(/The turn failed \(auth\)/);
    });
  });
});

/**
 * The playground's chat flow in headless Chromium on the real stack: sign in, start a chat and watch
 * it stream with a tool call and its result, interrupt keeping the partial, queue a follow-up, edit an
 * earlier message, and an answer full of markup that must stay text. Every action goes through the
 * page (keyboard where a user would type); the API is asked only to confirm what was stored.
 */
import type { Browser } from 'playwright-core';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { text, toolCalls } from '../../src/dev/fake-llm/script';
import { startTestApp, type TestApp } from '../support/app';
import { currentChatId, launchBrowser, openSignedIn, sendWithEnter, withPage } from './harness';

type Part = { type: string; text?: string };
type Message = { id: number; role: string; content: Part[] };

describe('the playground', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
    browser = await launchBrowser();
  });
  // Each test scripts its own answers; a failed test's leftovers must not answer the next one.
  afterEach(() => fake.reset());
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await fake?.close();
  });

  const messages = async (chatId: string): Promise<Message[]> =>
    (await app.request('GET', `/chats/${chatId}/messages`)).body.messages;
  const textOf = (m: Message): string => m.content.map((p) => p.text ?? '').join('');

  it('signs in with a token typed into the form, and refuses a wrong one', async () => {
    await withPage(browser, 'sign-in', async (page) => {
      await page.goto(app.url);
      const field = page.getByLabel('API token');
      await field.fill('chatd_not_a_real_token');
      await field.press('Enter');
      await expect(page.getByRole('alert').textContent()).resolves.toMatch(/token|unauthori/i);
      await field.fill(app.token);
      await field.press('Enter');
      await page.getByRole('heading', { name: 'New chat' }).waitFor();
      // The token stays in this browser: a reload is still signed in.
      await page.reload();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
    });
  });

  it('streams an answer with a tool call, its arguments and its result', async () => {
    fake.enqueue(
      toolCalls([{ id: 'call_ws', name: 'create_workspace', args: { template_id: 'empty' } }]),
      toolCalls([{ id: 'call_echo', name: 'execute', args: { command: 'echo browser-tool-output' } }]),
      text('The command printed its line. Streaming word by word for the view.', { tokensPerSecond: 25 }),
    );
    await withPage(browser, 'stream-tool-call', async (page) => {
      await openSignedIn(page, app);
      await sendWithEnter(page, 'Run echo in a workspace');
      const chatId = await currentChatId(page);
      // The answer shows up streaming or already stored, depending on how fast this machine is;
      // the interrupt test below pins the partial on screen with a slower answer.
      await page.locator('.message.assistant').getByText('The command printed').first().waitFor();
      const call = page.locator('details.tool-call[data-tool="execute"]');
      await expect(call.locator('.tool-args').textContent()).resolves.toContain('echo browser-tool-output');
      await expect(call.locator('.tool-result').textContent()).resolves.toContain('browser-tool-output');
      await page
        .locator('.message.assistant:not(.streaming)')
        .getByText('Streaming word by word for the view.')
        .waitFor();
      await page.locator('.chat-header .status', { hasText: 'idle' }).waitFor();
      // Per-message usage is shown under stored answers.
      await expect(page.locator('.message.assistant .usage').first().textContent()).resolves.toMatch(
        /\d+ in · \d+ out/,
      );
      // The chat list learned about the chat from the watch stream, with its generated title.
      await page.locator(`.chat-list li[data-chat-id="${chatId}"]`).waitFor();
      const stored = await messages(chatId);
      expect(stored.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'tool', 'assistant']);
    });
  });

  it('interrupts a streaming answer and keeps the partial', async () => {
    fake.enqueue(text(`Slow answer ${'word '.repeat(400)}`, { tokensPerSecond: 15 }));
    await withPage(browser, 'interrupt', async (page) => {
      await openSignedIn(page, app);
      await sendWithEnter(page, 'Say a lot, slowly');
      const chatId = await currentChatId(page);
      await page.locator('.message.streaming').getByText('Slow answer word').waitFor();
      await page.getByRole('button', { name: 'Interrupt' }).click();
      await page.locator('.chat-header .status', { hasText: 'idle' }).waitFor();
      const answer = (await messages(chatId)).find((m) => m.role === 'assistant')!;
      expect(textOf(answer)).toMatch(/^Slow answer word/);
      expect(textOf(answer).length).toBeLessThan(`Slow answer ${'word '.repeat(400)}`.length);
      // The kept partial is what the page shows as the stored answer.
      await page.locator(`[data-message-id="${answer.id}"]`).getByText('Slow answer word', { exact: false }).waitFor();
    });
  });

  it('queues a follow-up sent during a turn and answers it next', async () => {
    fake.enqueue(text(`First ${'part '.repeat(60)}`, { tokensPerSecond: 20 }), text('Answer to the follow-up.'));
    await withPage(browser, 'queue', async (page) => {
      await openSignedIn(page, app);
      await sendWithEnter(page, 'First question');
      const chatId = await currentChatId(page);
      await page.locator('.message.streaming').waitFor();
      await sendWithEnter(page, 'A follow-up while you work');
      const queue = page.getByRole('region', { name: 'Queued messages' });
      await queue.getByText('A follow-up while you work').waitFor();
      await page.locator('.message.assistant').getByText('Answer to the follow-up.').waitFor();
      await queue.waitFor({ state: 'detached' });
      const roles = (await messages(chatId)).map((m) => `${m.role}:${textOf(m).slice(0, 12)}`);
      expect(roles).toEqual([
        'user:First questi',
        'assistant:First part p',
        'user:A follow-up ',
        'assistant:Answer to th',
      ]);
    });
  });

  it('edits an earlier message and resends it', async () => {
    fake.enqueue(text('Answer one.'), text('Answer two.'), text('Answer to the edit.'));
    await withPage(browser, 'edit', async (page) => {
      await openSignedIn(page, app);
      await sendWithEnter(page, 'Original question');
      const chatId = await currentChatId(page);
      await page.getByText('Answer one.').waitFor();
      await sendWithEnter(page, 'Second question');
      await page.getByText('Answer two.').waitFor();
      const first = (await messages(chatId)).find((m) => m.role === 'user')!;
      await page.locator(`[data-message-id="${first.id}"]`).getByRole('button', { name: 'Edit message' }).click();
      const box = page.getByLabel('New text', { exact: true });
      await box.fill('Edited question');
      await page.getByRole('button', { name: 'Save and resend' }).click();
      await page.getByText('Answer to the edit.').waitFor();
      await page.getByText('Second question').waitFor({ state: 'detached' });
      const stored = (await messages(chatId)).map((m) => textOf(m));
      expect(stored).toEqual(['Edited question', 'Answer to the edit.']);
    });
  });

  it('shows markup in an answer as text and runs none of it', async () => {
    const hostile =
      '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>[click](javascript:window.__pwned=3)';
    fake.enqueue(text(hostile));
    await withPage(browser, 'hostile-answer', async (page) => {
      await openSignedIn(page, app);
      await sendWithEnter(page, 'Answer with markup');
      await page.locator('.message.assistant:not(.streaming)').waitFor();
      await expect(page.locator('.message.assistant .text').first().textContent()).resolves.toBe(hostile);
      expect(await page.locator('.messages img, .messages script, .messages a[href^="javascript"]').count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    });
  });

  it('fits a narrow screen: the chat list opens from a menu button, nothing scrolls sideways', async () => {
    await withPage(
      browser,
      'narrow',
      async (page) => {
        await openSignedIn(page, app);
        const list = page.getByRole('region', { name: 'Chats' });
        await expect(list.isVisible()).resolves.toBe(false);
        await page.getByRole('button', { name: 'Chats' }).click();
        await list.waitFor({ state: 'visible' });
        const overflow = await page.evaluate(() => {
          const view = globalThis as unknown as {
            innerWidth: number;
            document: { documentElement: { scrollWidth: number } };
          };
          return view.document.documentElement.scrollWidth - view.innerWidth;
        });
        expect(overflow).toBeLessThanOrEqual(0);
      },
      { viewport: { width: 360, height: 740 } },
    );
  });
});

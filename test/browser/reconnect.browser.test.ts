/**
 * The playground across an API restart: the API runs as its own process role (the worker in
 * another, both on one database with the PostgreSQL stream bus, as `chatd api` and `chatd worker`
 * do). The API is stopped mid-answer and a new one takes its port; the page says it is reconnecting,
 * resumes the chat stream with Last-Event-ID, and ends with the whole answer shown once.
 */
import { randomUUID } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { text } from '../../src/dev/fake-llm/script';
import { pgBus, startTestApp, type TestApp } from '../support/app';
import { createTestDatabase, type TestDatabase } from '../support/db';
import { currentChatId, launchBrowser, openSignedIn, sendWithEnter, withPage } from './harness';

describe('the playground across an API restart', () => {
  let fake: FakeLlmServer;
  let database: TestDatabase;
  let browser: Browser;
  const apps: TestApp[] = [];
  const taskQueue = `chatd-test-${randomUUID()}`;

  const start = async (role: 'api' | 'worker', port?: number): Promise<TestApp> => {
    const app = await startTestApp({
      fake,
      database,
      taskQueue,
      port,
      roles: { api: role === 'api', worker: role === 'worker' },
      bus: pgBus(database),
    });
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    database = await createTestDatabase();
    browser = await launchBrowser();
  });
  afterAll(async () => {
    await browser?.close();
    for (const app of apps.splice(0).reverse()) await app.stop();
    await database?.drop();
    await fake?.close();
  });

  it('keeps the chat on screen and resumes its stream when the API comes back', async () => {
    await start('worker');
    const api = await start('api');
    const answer = `Resumed ${'token '.repeat(120)}done.`;
    fake.enqueue(text(answer, { tokensPerSecond: 40 }));
    await withPage(browser, 'api-restart', async (page) => {
      await openSignedIn(page, api);
      await sendWithEnter(page, 'Keep going');
      const chatId = await currentChatId(page);
      await page.locator('.message.streaming').getByText('Resumed token').waitFor();

      await api.stop();
      await page.getByRole('status').filter({ hasText: 'reconnecting' }).waitFor();
      const restarted = await start('api', Number(new URL(api.url).port));

      await page.locator('.message.assistant:not(.streaming)').getByText('done.', { exact: false }).waitFor();
      await page.getByRole('status').filter({ hasText: 'reconnecting' }).waitFor({ state: 'detached' });
      // Still the same chat, its answer shown once, and equal to what was stored.
      expect(await currentChatId(page)).toBe(chatId);
      await expect(page.locator('.message.assistant').count()).resolves.toBe(1);
      const stored = (await restarted.request('GET', `/chats/${chatId}/messages`)).body.messages;
      const shown = await page.locator('.message.assistant .text').textContent();
      expect(stored.filter((m: { role: string }) => m.role === 'assistant')[0].content[0].text).toBe(shown);
      expect(shown).toBe(answer);
    });
  });
});

/**
 * The admin pages in a real browser: an admin adds a provider and a model config, a user and a token
 * the new member signs in with (and sees no Admin link), and spend limits that the API then holds and
 * the usage page shows. Everything is done through the pages; the API is only asked to confirm.
 */
import { randomUUID } from 'node:crypto';
import type { Browser, Page } from 'playwright-core';
import { FakeLlmServer } from '../../src/dev/fake-llm/server';
import { startTestApp, type TestApp } from '../support/app';
import { launchBrowser, openSignedIn, withPage } from './harness';

/** The text of the table row holding a cell with exactly `cell`, once it is there. */
async function rowText(page: Page, cell: string): Promise<string> {
  const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: cell, exact: true }) });
  await row.waitFor();
  return (await row.textContent()) ?? '';
}

describe('admin pages', () => {
  let fake: FakeLlmServer;
  let app: TestApp;
  let browser: Browser;

  beforeAll(async () => {
    fake = await FakeLlmServer.start();
    app = await startTestApp({ fake });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    await fake?.close();
  });

  it('adds a provider and a model config, never showing the key', async () => {
    const name = `Compat ${randomUUID().slice(0, 8)}`;
    const model = `compat-model-${randomUUID().slice(0, 8)}`;
    await withPage(browser, 'admin-provider-model', async (page) => {
      await openSignedIn(page, app, '/admin/providers');
      await page.getByLabel('Kind').selectOption({ label: 'OpenAI-compatible' });
      await page.getByLabel('Display name', { exact: true }).fill(name);
      await page.getByLabel(/^Base URL/).fill(fake.openaiBaseUrl);
      await page.getByLabel('API mode').selectOption('chat');
      await page.getByLabel('API key', { exact: true }).fill('sk-secret-in-browser-test');
      await page.getByRole('button', { name: 'Add provider' }).click();
      const provider = await rowText(page, name);
      expect(provider).toContain('openai-compat');
      expect(provider).toContain('stored');
      expect(await page.content()).not.toContain('sk-secret-in-browser-test');

      await page.getByRole('navigation', { name: 'Admin sections' }).getByRole('link', { name: 'Models' }).click();
      await page.getByLabel('Provider', { exact: true }).selectOption({ label: `${name} (openai-compat)` });
      await page.getByLabel('Model id').fill(model);
      await page.getByLabel('Context limit (tokens)').fill('64000');
      await page.getByLabel('Input', { exact: true }).fill('1.5');
      await page.getByLabel('Output', { exact: true }).fill('6');
      await page.getByLabel('Model id').press('Enter');
      expect(await rowText(page, model)).toContain(name);
    });

    const providers = await app.request('GET', '/chat-providers');
    const created = providers.body.find((p: { display_name: string }) => p.display_name === name);
    expect(created).toMatchObject({ provider: 'openai-compat', api_mode: 'chat', has_api_key: true });
    const configs = await app.request('GET', '/model-configs');
    expect(configs.body.find((c: { model: string }) => c.model === model)).toMatchObject({
      provider_id: created.id,
      context_limit: 64000,
      is_default: false,
      options: { cost: { input_price_per_million_tokens: 1.5, output_price_per_million_tokens: 6 } },
    });
  });

  it('adds a member whose new token signs in without admin pages', async () => {
    const username = `member-${randomUUID().slice(0, 8)}`;
    let token = '';
    await withPage(browser, 'admin-user-token', async (page) => {
      await openSignedIn(page, app, '/admin/users');
      await page.getByLabel('Username').fill(username);
      await page.getByLabel('Name (optional)', { exact: true }).fill('Mia Member');
      await page.getByLabel('Role').selectOption('member');
      await page.getByRole('button', { name: 'Add user' }).click();
      expect(await rowText(page, username)).toContain('member');

      // The new user is the token form's choice.
      expect(await page.getByLabel('User', { exact: true }).first().inputValue()).toBe(
        (await app.request('GET', '/users')).body.find((u: { username: string }) => u.username === username).id,
      );
      await page.getByLabel('Label (optional)').fill('browser test');
      await page.getByRole('button', { name: 'Create token' }).click();
      const field = page.getByLabel('New API token');
      await field.waitFor();
      token = await field.inputValue();
      expect(await field.getAttribute('readonly')).not.toBeNull();
      await page.getByText('it is shown only once').waitFor();
    });
    expect(token).toMatch(/^chatd_/);

    await withPage(browser, 'member-sign-in', async (page) => {
      await page.goto(app.url);
      await page.getByLabel('API token').fill(token);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('button', { name: 'Sign out' }).waitFor();
      expect(await page.getByText('Mia Member').count()).toBeGreaterThan(0);
      expect(await page.getByRole('link', { name: 'Admin' }).count()).toBe(0);
      await page.getByRole('link', { name: 'Usage' }).click();
      await page.getByText('No spend limit applies to you.').waitFor();
    });
  });

  it('adds an MCP server with a write-only key and sets the built-in tools approval policy', async () => {
    const slug = `mcp${randomUUID().slice(0, 6)}`;
    await withPage(browser, 'admin-mcp-approvals', async (page) => {
      await openSignedIn(page, app, '/admin/mcp');
      await page.getByLabel('Slug (tool name prefix)').fill(slug);
      await page.getByLabel('Display name', { exact: true }).fill('Docs server');
      await page.getByLabel('URL', { exact: true }).fill('https://mcp.example.com/mcp');
      await page.getByLabel('Type').selectOption('api_key');
      await page.getByLabel(/^Header value/).fill('Bearer mcp-secret-in-browser-test');
      await page.getByLabel('Tool calls').selectOption('ask');
      await page.getByRole('button', { name: 'Add server' }).click();
      await page.getByText(slug, { exact: true }).waitFor();
      expect(await page.content()).not.toContain('mcp-secret-in-browser-test');

      await page
        .getByRole('navigation', { name: 'Admin sections' })
        .getByRole('link', { name: 'Tool approval' })
        .click();
      await page.getByLabel('Built-in tools not listed below').selectOption('auto');
      await page.getByLabel('Tool name').fill('write_file');
      await page.getByLabel('Policy', { exact: true }).selectOption('ask');
      await page.getByLabel('Tool name').press('Enter');
      await page.getByLabel('Policy of write_file').waitFor();
      await page.getByRole('button', { name: 'Save policy' }).click();
      await page.getByText('Saved.').waitFor();
    });

    const servers = await app.request('GET', '/admin/mcp-servers');
    expect(servers.body.find((s: { slug: string }) => s.slug === slug)).toMatchObject({
      display_name: 'Docs server',
      approval: 'ask',
      auth: { type: 'api_key', has_api_key: true },
    });
    const policy = await app.request('GET', '/admin/tool-approval-policy');
    expect(policy.body).toEqual({ default: 'auto', tools: { write_file: 'ask' } });
  });

  it('stores spend limits set on the limits page and shows the applying one on the usage page', async () => {
    const me = (await app.request('GET', '/users/me')).body as { id: string; username: string };
    await withPage(browser, 'admin-limits', async (page) => {
      await openSignedIn(page, app, '/admin/limits');
      await page.getByLabel('Limits enabled').check();
      await page.getByLabel('Period', { exact: true }).selectOption('week');
      await page.getByLabel(/^Default limit per period/).fill('5');
      await page.getByRole('button', { name: 'Save setting' }).click();
      await page.getByText('Saved.').waitFor();

      await page.getByLabel('User', { exact: true }).selectOption({ label: me.username });
      await page.getByLabel('Limit per period in USD', { exact: true }).fill('2.50');
      await page.getByRole('button', { name: 'Set limit' }).click();
      expect(await rowText(page, `${me.username} (user)`)).toContain('$2.50');

      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Usage' }).click();
      await page.getByText('You spent $0.00 of $2.50 this week').waitFor();
      expect(await page.locator('meter').getAttribute('max')).toBe('2500000');
    });

    const limits = await app.request('GET', '/usage-limits');
    expect(limits.body).toMatchObject({ enabled: true, period: 'week', spend_limit_micros: 5_000_000 });
    expect(limits.body.overrides).toEqual([expect.objectContaining({ user_id: me.id, spend_limit_micros: 2_500_000 })]);
  });
});

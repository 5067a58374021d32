/** The browser side of `npm run demo`: open the chat in the user's browser, or screenshot it headless. */
import { spawn } from 'node:child_process';
import { launchChromium } from '../src/dev/chromium';

/** Hands the URL to the desktop's opener (xdg-open, open); says the URL is to be opened by hand when there is none. */
export function openInBrowser(url: string, say: (line: string) => void): void {
  const opener = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => say('open the link above in a browser'));
  child.unref();
}

/** Saves what the playground shows for the chat at `url` once its turn is over (README screenshot). */
export async function screenshotChat(url: string, file: string): Promise<void> {
  const browser = await launchChromium(process.env.CHROMIUM_PATH);
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 780 }, colorScheme: 'light' });
    await page.goto(url);
    await page.locator('.chat-header .status', { hasText: 'idle' }).waitFor();
    await page.locator('.message.assistant .usage').last().waitFor();
    // Show the command's arguments and output, as a reader of the README would open them.
    await page.locator('details.tool-call[data-tool="execute"] summary').click();
    await page.screenshot({ path: file });
  } finally {
    await browser.close();
  }
}

/** testConfig(overrides): a valid Config for tests, never read from the developer's environment. */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseConfig, type Config } from '../../src/config';

let dataDir: string | undefined;

/**
 * One data directory per test process, in the temp dir rather than the checkout: workspace sandboxes
 * run as their own uids, which must be able to traverse to the workspaces, and a checkout may sit in a
 * private directory (docs/workspaces.md). Removed when the process exits.
 */
function testDataDir(): string {
  if (dataDir === undefined) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chatd-test-data-'));
    chmodSync(dir, 0o711);
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    dataDir = dir;
  }
  return dataDir;
}

export function testConfig(env: Record<string, string> = {}): Config {
  return parseConfig({ CHATD_LOG_LEVEL: 'silent', CHATD_HTTP_PORT: '0', CHATD_DATA_DIR: testDataDir(), ...env });
}

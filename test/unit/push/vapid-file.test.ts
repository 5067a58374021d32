/**
 * The embedded start's VAPID keys: generated once into the data dir with mode 0600, then reused, so
 * browsers' subscriptions (bound to the public key) survive restarts; a damaged file is an error,
 * never silently replaced.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isVapidKeyPair } from '../../../src/push/keys';
import { loadOrCreateVapidKeys, VAPID_KEYS_FILE } from '../../../src/push/vapid-file';

describe('loadOrCreateVapidKeys', () => {
  let dir: string;
  let file: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'chatd-vapid-'));
    file = path.join(dir, VAPID_KEYS_FILE);
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('creates a valid pair in a file only the owner can read', () => {
    const pair = loadOrCreateVapidKeys(file);
    expect(isVapidKeyPair(pair)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // Written atomically: no temporary file is left beside it.
    expect(readdirSync(dir)).toEqual([VAPID_KEYS_FILE]);
  });

  it('reuses the stored pair on the next start', () => {
    const first = loadOrCreateVapidKeys(file);
    const second = loadOrCreateVapidKeys(file);
    expect(second).toEqual(first);
  });

  it('refuses a damaged file instead of replacing the keys', () => {
    writeFileSync(file, '{"public_key": "abc", "private_key": "def"}');
    expect(() => loadOrCreateVapidKeys(file)).toThrow(/does not hold a valid VAPID key pair/);
    writeFileSync(file, 'not json');
    expect(() => loadOrCreateVapidKeys(file)).toThrow(/not valid JSON/);
  });
});

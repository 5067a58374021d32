/**
 * The embedded start's VAPID key pair: generated on first start and kept in a 0600 JSON file in the
 * data dir, so browsers' subscriptions (which are bound to the public key) keep working across
 * restarts. Production roles take their keys from the environment instead (docs/operations.md).
 */
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { generateVapidKeyPair, isP256PrivateKey, isP256PublicKey, isVapidKeyPair, type VapidKeyPair } from './keys';

/** Name of the key file inside the data dir. */
export const VAPID_KEYS_FILE = 'vapid-keys.json';

interface StoredKeys {
  public_key: string;
  private_key: string;
}

/**
 * The key pair stored in `file`, or a new one written there (mode 0600, atomically: a crash leaves
 * no file or a whole one). Throws when the file exists but does not hold a valid pair, rather than
 * replacing it: a new pair would silently orphan every stored subscription.
 */
export function loadOrCreateVapidKeys(file: string): VapidKeyPair {
  if (existsSync(file)) return readVapidKeys(file);
  const pair = generateVapidKeyPair();
  const stored: StoredKeys = { public_key: pair.publicKey, private_key: pair.privateKey };
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  // writeFileSync's mode is filtered by the umask; make sure nobody else can read the private key.
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return pair;
}

function readVapidKeys(file: string): VapidKeyPair {
  let parsed: Partial<StoredKeys>;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<StoredKeys>;
  } catch {
    throw new Error(`${file} is not valid JSON: delete it to generate new keys (browsers must subscribe again)`);
  }
  const pair = { publicKey: String(parsed.public_key ?? ''), privateKey: String(parsed.private_key ?? '') };
  if (!isP256PublicKey(pair.publicKey) || !isP256PrivateKey(pair.privateKey) || !isVapidKeyPair(pair)) {
    throw new Error(`${file} does not hold a valid VAPID key pair: delete it to generate new keys`);
  }
  return pair;
}

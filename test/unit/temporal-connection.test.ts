/**
 * Temporal TLS and API-key settings (src/config.ts) and the connection options built from them
 * (src/temporal/connection-options.ts), which the client and the workers' connections share; and the
 * CORS allowlist setting.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, parseConfig } from '../../src/config';
import { temporalConnectionOptions } from '../../src/temporal/connection-options';

const config = (env: Record<string, string>) => parseConfig({ CHATD_DATA_DIR: '/tmp/x', ...env });
const issues = (env: Record<string, string>): string[] => {
  try {
    config(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('Temporal TLS settings', () => {
  it('is plaintext without any setting', () => {
    const { temporal } = config({});
    expect(temporal.tls).toBe(false);
    expect(temporalConnectionOptions(temporal, 'localhost:7233')).toEqual({ address: 'localhost:7233', tls: false });
  });

  it('turns TLS on with an API key, as Temporal Cloud requires, unless TEMPORAL_TLS=false says otherwise', () => {
    const cloud = config({ TEMPORAL_API_KEY: 'key-1' }).temporal;
    expect(temporalConnectionOptions(cloud, 'ns.acct.tmprl.cloud:7233')).toEqual({
      address: 'ns.acct.tmprl.cloud:7233',
      tls: {},
      apiKey: 'key-1',
    });
    const plain = config({ TEMPORAL_API_KEY: 'key-1', TEMPORAL_TLS: 'false' }).temporal;
    expect(temporalConnectionOptions(plain, 'proxy:7233')).toEqual({
      address: 'proxy:7233',
      tls: false,
      apiKey: 'key-1',
    });
  });

  it('reads the mTLS pair, the CA and the server name into the TLS options', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'chatd-tls-'));
    const file = (name: string, content: string): string => {
      writeFileSync(path.join(dir, name), content);
      return path.join(dir, name);
    };
    const { temporal } = config({
      TEMPORAL_TLS_CERT: file('client.pem', 'CERT'),
      TEMPORAL_TLS_KEY: file('client.key', 'KEY'),
      TEMPORAL_TLS_CA: file('ca.pem', 'CA'),
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    });
    const options = temporalConnectionOptions(temporal, 'temporal:7233');
    expect(options.apiKey).toBeUndefined();
    expect(options.tls).not.toBe(false);
    const tls = options.tls as Exclude<typeof options.tls, false>;
    expect(Buffer.from(tls.clientCertPair!.crt).toString()).toBe('CERT');
    expect(Buffer.from(tls.clientCertPair!.key).toString()).toBe('KEY');
    expect(Buffer.from(tls.serverRootCACertificate!).toString()).toBe('CA');
    expect(tls.serverNameOverride).toBe('temporal.internal');
  });

  it('enables TLS with TEMPORAL_TLS=true alone (system roots, no client certificate)', () => {
    const { temporal } = config({ TEMPORAL_TLS: 'true' });
    expect(temporalConnectionOptions(temporal, 'temporal:7233')).toEqual({ address: 'temporal:7233', tls: {} });
  });

  it('refuses a certificate without its key, a key without its certificate, and certificates with TLS off', () => {
    expect(issues({ TEMPORAL_TLS_CERT: '/c.pem' }).join('\n')).toMatch(/TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY: set both/);
    expect(issues({ TEMPORAL_TLS_KEY: '/c.key' }).join('\n')).toMatch(/TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY: set both/);
    expect(issues({ TEMPORAL_TLS: 'false', TEMPORAL_TLS_CA: '/ca.pem' }).join('\n')).toMatch(/^TEMPORAL_TLS: is false/);
    expect(issues({ TEMPORAL_TLS: 'maybe' }).join('\n')).toMatch(/^TEMPORAL_TLS:/);
  });

  it('names the variable of a certificate file it cannot read', () => {
    const { temporal } = config({ TEMPORAL_TLS_CA: '/nonexistent/ca.pem' });
    expect(() => temporalConnectionOptions(temporal, 'temporal:7233')).toThrow(/TEMPORAL_TLS_CA: cannot read/);
  });
});

describe('CHATD_CORS_ORIGINS', () => {
  it('is empty by default and a trimmed list of origins when set', () => {
    expect(config({}).corsOrigins).toEqual([]);
    expect(config({ CHATD_CORS_ORIGINS: ' https://app.example.com, http://localhost:5173 ' }).corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
  });

  it('refuses anything that is not a bare origin', () => {
    for (const bad of ['https://app.example.com/', 'https://app.example.com/path', '*', 'app.example.com', 'ftp://x']) {
      expect(issues({ CHATD_CORS_ORIGINS: bad }).join('\n')).toMatch(/^CHATD_CORS_ORIGINS: .* is not an origin/);
    }
  });
});

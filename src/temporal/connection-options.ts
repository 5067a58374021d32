/**
 * The options of every Temporal connection a chatd process opens: the client's `Connection` (API,
 * worker) and the workers' `NativeConnection`, built from one place so both speak TLS and send the API
 * key alike (README "Temporal TLS and API keys"). Certificate files are read here, at connect time;
 * an unreadable one is a ConfigError naming its variable.
 */
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { ConfigError, type Config } from '../config';

/** What both `Connection.connect` and `NativeConnection.connect` take from chatd's configuration. */
export interface TemporalConnectionOptions {
  address: string;
  /** false: plaintext; otherwise TLS, with the client certificate, CA and server name when configured. */
  tls: TLSConfig | false;
  /** Temporal Cloud API key, sent as `Authorization: Bearer …` on every call. */
  apiKey?: string;
}

export function temporalConnectionOptions(
  temporal: Pick<Config['temporal'], 'tls' | 'apiKey'>,
  address: string,
  readFile: (file: string) => Buffer = readFileSync,
): TemporalConnectionOptions {
  const apiKey = temporal.apiKey ? { apiKey: temporal.apiKey } : {};
  if (!temporal.tls) return { address, tls: false, ...apiKey };
  const { clientCertPath, clientKeyPath, caPath, serverName } = temporal.tls;
  const read = (variable: string, file: string): Buffer => {
    try {
      return readFile(file);
    } catch (err) {
      throw new ConfigError([`${variable}: cannot read ${file} (${(err as Error).message})`]);
    }
  };
  const tls: TLSConfig = {};
  if (clientCertPath && clientKeyPath) {
    tls.clientCertPair = {
      crt: read('TEMPORAL_TLS_CERT', clientCertPath),
      key: read('TEMPORAL_TLS_KEY', clientKeyPath),
    };
  }
  if (caPath) tls.serverRootCACertificate = read('TEMPORAL_TLS_CA', caPath);
  if (serverName) tls.serverNameOverride = serverName;
  return { address, tls, ...apiKey };
}

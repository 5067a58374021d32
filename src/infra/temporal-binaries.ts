/**
 * Finds the Temporal binaries chatd runs locally (INFRA): an explicit path, else the project
 * cache (built on demand by scripts/ when Go or Maven is there), else nothing, in which case the
 * caller falls back to the SDK's own download, which needs internet access.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_TEST_SERVER_VERSION = '1.38.0';

export interface ResolvedBinary {
  path: string;
  source: 'environment' | 'cache' | 'built';
}

const scriptsDir = path.resolve(__dirname, '../../scripts');

/** `$CHATD_CACHE_DIR`, else `$XDG_CACHE_HOME/chatd`, else ~/.cache/chatd (the scripts use the same rule). */
export function cacheDir(env: Record<string, string | undefined>): string {
  return env.CHATD_CACHE_DIR ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'chatd');
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function resolve(
  explicit: string | undefined,
  cached: string,
  script: string,
  tools: string[],
  env: Record<string, string | undefined>,
): ResolvedBinary | null {
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`${explicit} does not exist (set by environment)`);
    return { path: explicit, source: 'environment' };
  }
  if (existsSync(cached)) return { path: cached, source: 'cache' };
  if (!tools.every(hasCommand)) return null;
  // The script prints its progress on stderr and the binary's path on stdout.
  const out = execFileSync('bash', [path.join(scriptsDir, script)], {
    env: { ...env, CHATD_CACHE_DIR: cacheDir(env) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return { path: out.toString().trim(), source: 'built' };
}

/** The Temporal CLI (dev server). Builds it with Go when missing; null when it cannot. */
export function resolveTemporalCli(env: Record<string, string | undefined>): ResolvedBinary | null {
  const cached = path.join(cacheDir(env), `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'bin', 'temporal');
  return resolve(env.TEMPORAL_CLI_PATH, cached, 'temporal-cli.sh', ['go'], env);
}

/** The time-skipping test server wrapper. Fetches the jars with Maven when missing; null when it cannot. */
export function resolveTemporalTestServer(env: Record<string, string | undefined>): ResolvedBinary | null {
  const dir = path.join(cacheDir(env), `temporal-test-server-${TEMPORAL_TEST_SERVER_VERSION}`);
  const cached = existsSync(path.join(dir, 'lib', '.complete'))
    ? path.join(dir, 'temporal-test-server')
    : path.join(dir, 'missing');
  return resolve(env.TEMPORAL_TEST_SERVER_PATH, cached, 'temporal-test-server.sh', ['java', 'mvn'], env);
}

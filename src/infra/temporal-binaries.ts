/**
 * Finds the Temporal binaries chatd runs locally (INFRA), fastest source first. The Temporal CLI (dev
 * server): an explicit path, else the project cache (a previous build or download), else a `temporal`
 * on PATH whose embedded server is recent enough, else the Temporal SDK's own download when its host
 * answers within seconds, else a build from the Go module proxy (scripts/temporal-cli.sh, minutes).
 * The time-skipping test server: an explicit path, else the cache, else Maven. Null when none works.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEMPORAL_TEST_SERVER_VERSION = '1.38.0';
/**
 * The oldest Temporal server (as embedded in a CLI) that knows every dynamic config value chatd's dev
 * server sets (temporal-dev-server.ts); scripts/temporal-cli.sh checks the same. CLIs built from source
 * report their own version as 0.0.0-DEV, so the server version is the one checked.
 */
export const MIN_TEMPORAL_SERVER_VERSION = '1.25.0';

export interface ResolvedBinary {
  path: string;
  /** environment: TEMPORAL_CLI_PATH; cache: built or downloaded earlier; path: found on PATH. */
  source: 'environment' | 'cache' | 'path' | 'download' | 'built';
}

/** Where the Temporal SDK's download answers; a probe there decides whether to try the download. */
const SDK_DOWNLOAD_PROBE_URL = 'https://temporal.download/';
/** How long the probe may take: offline machines fail at once (DNS) or time out here, quietly. */
const SDK_DOWNLOAD_PROBE_MS = 3_000;

const scriptsDir = path.resolve(__dirname, '../../scripts');

/** `$CHATD_CACHE_DIR`, else `$XDG_CACHE_HOME/chatd`, else ~/.cache/chatd (the scripts use the same rule). */
export function cacheDir(env: Record<string, string | undefined>): string {
  return env.CHATD_CACHE_DIR ?? path.join(env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'chatd');
}

/** The first executable `name` on `env.PATH`, or undefined. */
export function findOnPath(name: string, env: Record<string, string | undefined>): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** True when dotted version `a` >= `b` (numeric parts, missing ones are 0). */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

/** The Temporal server version a CLI embeds (`temporal --version`: "… (Server 1.29.1, UI …)"), or undefined. */
export function embeddedServerVersion(binary: string): string | undefined {
  try {
    const out = execFileSync(binary, ['--version'], { timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
    return /\(Server (\d+(?:\.\d+)*)/.exec(out.toString())?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Whether `url` answers an HTTP request within `timeoutMs` (any status). Runs in a child process so
 * the resolution stays synchronous; prints nothing, whatever happens.
 */
export function probeUrl(url: string, timeoutMs: number): boolean {
  const script =
    'fetch(process.argv[1], { method: "HEAD", signal: AbortSignal.timeout(Number(process.argv[2])) })' +
    '.then(() => process.exit(0), () => process.exit(1))';
  try {
    execFileSync(process.execPath, ['-e', script, url, String(timeoutMs)], {
      stdio: 'ignore',
      // The child's own timer ends it first; this bounds a child that hangs before it runs.
      timeout: timeoutMs + 5_000,
    });
    return true;
  } catch {
    return false;
  }
}

/** A finished SDK download in `dir` (the SDK writes `temporal-…`, with `.downloading` while in progress). */
function downloadedCli(dir: string): string | undefined {
  if (!existsSync(dir)) return undefined;
  const name = readdirSync(dir)
    .filter((f) => f.startsWith('temporal-') && !f.endsWith('.downloading'))
    .sort()
    .pop();
  return name ? path.join(dir, name) : undefined;
}

/**
 * Fetches the CLI with the Temporal SDK's own download (@temporalio/testing starts a dev server from a
 * cached download; the server is stopped at once) into `dir`, after a short probe of the download
 * host. Null when the host does not answer or the download fails.
 */
export function sdkDownload(dir: string): string | null {
  if (!probeUrl(SDK_DOWNLOAD_PROBE_URL, SDK_DOWNLOAD_PROBE_MS)) return null;
  let testing: string;
  try {
    testing = require.resolve('@temporalio/testing');
  } catch {
    return null; // a production install: dev-only packages are absent
  }
  mkdirSync(dir, { recursive: true });
  process.stderr.write('[chatd] downloading the Temporal CLI with the Temporal SDK\n');
  const script = `
    const { TestWorkflowEnvironment } = require(${JSON.stringify(testing)});
    TestWorkflowEnvironment.createLocal({
      server: { executable: { type: 'cached-download', downloadDir: process.argv[1] }, ip: '127.0.0.1', ui: false },
    }).then((env) => env.teardown()).then(() => process.exit(0), (err) => {
      console.error(String(err && err.message || err));
      process.exit(1);
    });`;
  try {
    execFileSync(process.execPath, ['-e', script, dir], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10 * 60_000 });
  } catch {
    return null;
  }
  return downloadedCli(dir) ?? null;
}

function hasCommand(name: string, env: Record<string, string | undefined>): boolean {
  return findOnPath(name, env) !== undefined;
}

function runScript(script: string, env: Record<string, string | undefined>): string {
  // The script prints its progress on stderr and the binary's path on stdout.
  const out = execFileSync('bash', [path.join(scriptsDir, script)], {
    env: { ...env, CHATD_CACHE_DIR: cacheDir(env) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return out.toString().trim();
}

export interface ResolveCliOptions {
  /** The SDK download step (tests replace it); returns the binary's path, or null when it cannot. */
  download?: (dir: string) => string | null;
}

/** The Temporal CLI (dev server), from the fastest source that works (see the file comment); null: none. */
export function resolveTemporalCli(
  env: Record<string, string | undefined>,
  options: ResolveCliOptions = {},
): ResolvedBinary | null {
  const explicit = env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`${explicit} does not exist (set by TEMPORAL_CLI_PATH)`);
    return { path: explicit, source: 'environment' };
  }
  const built = path.join(cacheDir(env), `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'bin', 'temporal');
  if (existsSync(built)) return { path: built, source: 'cache' };
  const downloadDir = path.join(cacheDir(env), 'temporal-cli-sdk-download');
  const downloaded = downloadedCli(downloadDir);
  if (downloaded) return { path: downloaded, source: 'cache' };

  const onPath = findOnPath('temporal', env);
  if (onPath) {
    const version = embeddedServerVersion(onPath);
    if (version && versionAtLeast(version, MIN_TEMPORAL_SERVER_VERSION)) return { path: onPath, source: 'path' };
  }

  const fetched = (options.download ?? sdkDownload)(downloadDir);
  if (fetched) return { path: fetched, source: 'download' };

  if (!hasCommand('go', env)) return null;
  return { path: runScript('temporal-cli.sh', env), source: 'built' };
}

/** The time-skipping test server wrapper. Fetches the jars with Maven when missing; null when it cannot. */
export function resolveTemporalTestServer(env: Record<string, string | undefined>): ResolvedBinary | null {
  if (env.TEMPORAL_TEST_SERVER_PATH) {
    if (!existsSync(env.TEMPORAL_TEST_SERVER_PATH))
      throw new Error(`${env.TEMPORAL_TEST_SERVER_PATH} does not exist (set by TEMPORAL_TEST_SERVER_PATH)`);
    return { path: env.TEMPORAL_TEST_SERVER_PATH, source: 'environment' };
  }
  const dir = path.join(cacheDir(env), `temporal-test-server-${TEMPORAL_TEST_SERVER_VERSION}`);
  if (existsSync(path.join(dir, 'lib', '.complete')))
    return { path: path.join(dir, 'temporal-test-server'), source: 'cache' };
  if (!hasCommand('java', env) || !hasCommand('mvn', env)) return null;
  return { path: runScript('temporal-test-server.sh', env), source: 'built' };
}

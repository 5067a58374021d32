/**
 * Where the Temporal CLI comes from (src/infra/temporal-binaries.ts), fastest source first: the
 * explicit path, the cache, a recent enough `temporal` on PATH, the SDK's download, the Go build.
 * Fake binaries on a temporary PATH stand in for real ones; the download step is replaced.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  probeUrl,
  resolveTemporalCli,
  TEMPORAL_CLI_VERSION,
  versionAtLeast,
} from '../../../src/infra/temporal-binaries';

function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'chatd-binaries-'));
}

/** A fake `temporal` whose `--version` reports `server` as its embedded Temporal server. */
function fakeTemporal(dir: string, server: string): string {
  const file = path.join(dir, 'temporal');
  writeFileSync(file, `#!/bin/sh\necho "temporal version 0.0.0-DEV (Server ${server}, UI 2.42.1)"\n`);
  chmodSync(file, 0o755);
  return file;
}

/** A download step that must not be reached. */
function noDownload(): string | null {
  throw new Error('the download step must not run');
}

/** An environment with only `bin` on PATH and an empty cache. */
function env(bin: string, extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: bin, CHATD_CACHE_DIR: path.join(tempDir(), 'cache'), HOME: tempDir(), ...extra };
}

describe('resolveTemporalCli', () => {
  it('prefers TEMPORAL_CLI_PATH over everything', () => {
    const bin = tempDir();
    const explicit = fakeTemporal(tempDir(), '1.29.1');
    fakeTemporal(bin, '1.29.1');
    expect(resolveTemporalCli(env(bin, { TEMPORAL_CLI_PATH: explicit }))).toEqual({
      path: explicit,
      source: 'environment',
    });
  });

  it('prefers the cached build over a temporal on PATH', () => {
    const bin = tempDir();
    fakeTemporal(bin, '1.29.1');
    const e = env(bin);
    const cached = path.join(e.CHATD_CACHE_DIR!, `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'bin');
    mkdirSync(cached, { recursive: true });
    const binary = fakeTemporal(cached, '1.29.1');
    expect(resolveTemporalCli(e, { download: noDownload })).toEqual({ path: binary, source: 'cache' });
  });

  it('reuses an earlier SDK download from the cache', () => {
    const e = env(tempDir());
    const dir = path.join(e.CHATD_CACHE_DIR!, 'temporal-cli-sdk-download');
    mkdirSync(dir, { recursive: true });
    const binary = fakeTemporal(dir, '1.29.1').replace(/temporal$/, 'temporal-sdk-typescript-1.24.0');
    writeFileSync(binary, '');
    writeFileSync(`${binary}x.downloading`, '');
    expect(resolveTemporalCli(e, { download: noDownload })).toEqual({ path: binary, source: 'cache' });
  });

  it('takes a temporal on PATH whose server is recent enough, before any download', () => {
    const bin = tempDir();
    const onPath = fakeTemporal(bin, '1.29.1');
    const download = jest.fn(() => null);
    expect(resolveTemporalCli(env(bin), { download })).toEqual({ path: onPath, source: 'path' });
    expect(download).not.toHaveBeenCalled();
  });

  it('skips a temporal on PATH that is too old and uses the SDK download next', () => {
    const bin = tempDir();
    fakeTemporal(bin, '1.20.0');
    const download = jest.fn((dir: string) => path.join(dir, 'temporal-sdk-typescript-1.24.0'));
    const e = env(bin);
    const resolved = resolveTemporalCli(e, { download });
    expect(download).toHaveBeenCalledWith(path.join(e.CHATD_CACHE_DIR!, 'temporal-cli-sdk-download'));
    expect(resolved).toEqual({ path: download.mock.results[0]!.value, source: 'download' });
  });

  it('is null when nothing works: no binary, no download and no Go to build one', () => {
    const download = jest.fn(() => null);
    expect(resolveTemporalCli(env(tempDir()), { download })).toBeNull();
    expect(download).toHaveBeenCalledTimes(1);
  });
});

describe('the SDK download probe', () => {
  it('fails, quietly, when nothing listens', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    expect(probeUrl(`http://127.0.0.1:${port}/`, 2_000)).toBe(false);
  });

  it('gives up after its timeout when the host accepts but never answers', async () => {
    // The probe blocks this process, so this server never answers: the kernel accepts for it.
    const server = net.createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    try {
      expect(probeUrl(`http://127.0.0.1:${port}/`, 500)).toBe(false);
    } finally {
      server.close();
    }
  });
});

describe('versionAtLeast', () => {
  it('compares dotted versions numerically', () => {
    expect(versionAtLeast('1.29.1', '1.25.0')).toBe(true);
    expect(versionAtLeast('1.25', '1.25.0')).toBe(true);
    expect(versionAtLeast('1.9.0', '1.25.0')).toBe(false);
    expect(versionAtLeast('2.0.0', '1.25.0')).toBe(true);
  });
});

/** parseConfig: defaults, coercion, one error naming every invalid variable at once, workspace hosts. */
import { ConfigError, defaultWorkspaceHostId, parseConfig } from '../../src/config';

describe('parseConfig', () => {
  it('applies the embedded defaults to an empty environment', () => {
    const config = parseConfig({});
    expect(config.http).toEqual({ host: '127.0.0.1', port: 8080, drainMs: 0 });
    expect(config.metricsToken).toBeUndefined();
    expect(config.workerHttpPort).toBe(9464);
    expect(config.temporal).toEqual({
      address: undefined,
      namespace: 'default',
      taskQueue: 'chatd',
      tls: false,
      apiKey: undefined,
    });
    expect(config.corsOrigins).toEqual([]);
    expect(config.maxSteps).toBe(1200);
    expect(config.workerMaxActivities).toBe(1000);
    expect(config.maxMessageBytes).toBe(1024 * 1024);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads the drain time, the metrics token and the worker health port', () => {
    const config = parseConfig({
      CHATD_DRAIN_SECONDS: '15',
      CHATD_METRICS_TOKEN: 'a-long-enough-token',
      CHATD_WORKER_HTTP_PORT: '0',
    });
    expect(config.http.drainMs).toBe(15_000);
    expect(config.metricsToken).toBe('a-long-enough-token');
    expect(config.workerHttpPort).toBe(0);
    expect(() => parseConfig({ CHATD_METRICS_TOKEN: 'short' })).toThrow(/CHATD_METRICS_TOKEN/);
    expect(() => parseConfig({ CHATD_DRAIN_SECONDS: '-1' })).toThrow(/CHATD_DRAIN_SECONDS/);
    expect(() => parseConfig({ CHATD_WORKER_HTTP_PORT: '70000' })).toThrow(/CHATD_WORKER_HTTP_PORT/);
  });

  it('treats blank variables as unset', () => {
    expect(parseConfig({ DATABASE_URL: '  ', TEMPORAL_ADDRESS: '' })).toMatchObject({
      databaseUrl: undefined,
      temporal: { address: undefined },
    });
  });

  it('lists every invalid variable in one error', () => {
    let error: unknown;
    try {
      parseConfig({
        CHATD_HTTP_PORT: 'eighty',
        DATABASE_URL: 'mysql://x',
        CHATD_DEFAULT_MODEL: 'gpt-4o',
        CHATD_MAX_STEPS: '0',
        CHATD_WORKER_MAX_ACTIVITIES: '-5',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.join('\n');
    for (const name of [
      'CHATD_HTTP_PORT',
      'DATABASE_URL',
      'CHATD_DEFAULT_MODEL',
      'CHATD_MAX_STEPS',
      'CHATD_WORKER_MAX_ACTIVITIES',
    ]) {
      expect(issues).toContain(name);
    }
  });

  it('accepts a provider:model default model', () => {
    expect(parseConfig({ CHATD_DEFAULT_MODEL: 'anthropic:claude-sonnet-4-5' }).defaultModel).toBe(
      'anthropic:claude-sonnet-4-5',
    );
  });
});

describe('workspace host configuration', () => {
  it('defaults the host id to the hostname, made queue-safe, with a 60 s pickup timeout and the worker serving', () => {
    const config = parseConfig({});
    expect(config.workspaceHost).toEqual({
      id: defaultWorkspaceHostId(),
      pickupTimeoutSeconds: 60,
      servedByWorker: true,
    });
    expect(defaultWorkspaceHostId('Build-Box.example.com')).toBe('build-box.example.com');
    expect(defaultWorkspaceHostId('__weird host!')).toBe('weird-host-');
    expect(defaultWorkspaceHostId('')).toBe('localhost');
  });

  it('takes an explicit host id, timeout and serving flag, and rejects ids unfit for a task queue name', () => {
    expect(
      parseConfig({
        CHATD_WORKSPACE_HOST_ID: 'worker-1',
        CHATD_WORKSPACE_HOST_TIMEOUT: '5',
        CHATD_WORKER_SERVE_WORKSPACES: 'false',
      }).workspaceHost,
    ).toEqual({ id: 'worker-1', pickupTimeoutSeconds: 5, servedByWorker: false });
    expect(() => parseConfig({ CHATD_WORKSPACE_HOST_ID: 'a b' })).toThrow(/CHATD_WORKSPACE_HOST_ID/);
    expect(() => parseConfig({ CHATD_WORKSPACE_HOST_TIMEOUT: '0' })).toThrow(/CHATD_WORKSPACE_HOST_TIMEOUT/);
  });
});

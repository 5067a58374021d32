/** parseConfig: defaults, coercion, and one error naming every invalid variable at once. */
import { ConfigError, parseConfig } from '../../src/config';

describe('parseConfig', () => {
  it('applies the embedded defaults to an empty environment', () => {
    const config = parseConfig({});
    expect(config.http).toEqual({ host: '127.0.0.1', port: 8080 });
    expect(config.temporal).toEqual({ address: undefined, namespace: 'default', taskQueue: 'chatd' });
    expect(config.maxSteps).toBe(1200);
    expect(config.workerMaxActivities).toBe(1000);
    expect(config.maxMessageBytes).toBe(1024 * 1024);
    expect(Object.isFrozen(config)).toBe(true);
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

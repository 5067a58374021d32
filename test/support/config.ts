/** testConfig(overrides): a valid Config for tests, never read from the developer's environment. */
import { parseConfig, type Config } from '../../src/config';

export function testConfig(env: Record<string, string> = {}): Config {
  return parseConfig({ CHATD_LOG_LEVEL: 'silent', CHATD_HTTP_PORT: '0', ...env });
}

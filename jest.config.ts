/**
 * Test tiers (STYLE §6.14): unit (pure logic), activities (adapters against PostgreSQL and the fake
 * providers), workflow (time-skipping Temporal), replay (committed histories), e2e (HTTP + SSE on
 * real PostgreSQL and Temporal). The global setup starts PostgreSQL and Temporal once per run.
 */
import type { Config } from 'jest';

const tsJest = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] } as const;

const project = (name: string, testMatch: string[], timeoutMs: number): NonNullable<Config['projects']>[number] =>
  ({
    displayName: name,
    testEnvironment: 'node',
    transform: tsJest,
    testMatch: testMatch.map((glob) => `<rootDir>/${glob}`),
    // Tests never read .env files or the developer's environment defaults.
    setupFiles: ['<rootDir>/test/support/jest-setup.ts'],
    // Jest reads testTimeout only globally; each tier sets its own in the setup file.
    globals: { CHATD_TEST_TIMEOUT_MS: timeoutMs },
  }) as NonNullable<Config['projects']>[number];

const config: Config = {
  testTimeout: 60_000,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  projects: [
    project('unit', ['test/unit/**/*.test.ts'], 10_000),
    project('activities', ['test/activities/**/*.activity.test.ts'], 30_000),
    project('workflow', ['test/workflow/**/*.workflow.test.ts'], 60_000),
    project('replay', ['test/replay/**/*.test.ts'], 60_000),
    project('e2e', ['test/e2e/**/*.e2e.test.ts'], 90_000),
  ],
};

export default config;

/**
 * Test tiers: unit (pure logic), activities (adapters against PostgreSQL and the fake
 * providers), workflow (time-skipping Temporal), replay (committed histories), e2e (HTTP + SSE on
 * real PostgreSQL and Temporal), browser (the playground in headless Chromium on the real stack).
 * The unit and replay tiers need nothing but node_modules; the others declare the global setup that starts PostgreSQL and Temporal, which runs once per Jest run however
 * many of those tiers are selected (test/support/global-setup.ts).
 */
import type { Config } from 'jest';

type Project = Exclude<NonNullable<Config['projects']>[number], string>;

const tsJest = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] } as const;

/** The global setup and teardown of the tiers that run against PostgreSQL and Temporal. */
const stack = {
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
} satisfies Project;

const project = (name: string, testMatch: string[], timeoutMs: number, setup: Project = {}): Project =>
  ({
    displayName: name,
    testEnvironment: 'node',
    transform: tsJest,
    testMatch: testMatch.map((glob) => `<rootDir>/${glob}`),
    // Tests never read .env files or the developer's environment defaults.
    setupFiles: ['<rootDir>/test/support/jest-setup.ts'],
    // Jest reads testTimeout only globally; each tier sets its own in the setup file.
    globals: { CHATD_TEST_TIMEOUT_MS: timeoutMs },
    ...setup,
  }) as Project;

const config: Config = {
  testTimeout: 60_000,
  projects: [
    project('unit', ['test/unit/**/*.test.ts'], 10_000),
    project('activities', ['test/activities/**/*.activity.test.ts'], 30_000, stack),
    project('workflow', ['test/workflow/**/*.workflow.test.ts'], 60_000, stack),
    // Replay needs only the workflow bundle: no server.
    project('replay', ['test/replay/**/*.test.ts'], 60_000),
    project('e2e', ['test/e2e/**/*.e2e.test.ts'], 90_000, stack),
    // The playground in headless Chromium against the real stack (test/browser/harness.ts).
    project('browser', ['test/browser/**/*.browser.test.ts'], 90_000, stack),
  ],
};

export default config;

// Lint rules that enforce the house style's boundaries (STYLE §6.2, §6.15): workflow code stays
// deterministic (no Node built-ins, database, HTTP or provider SDKs; activities by type only),
// process.env is read only by config and entry points, and promises are never left floating.
import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'assert',
  'buffer',
  'child_process',
  'cluster',
  'crypto',
  'dgram',
  'dns',
  'events',
  'fs',
  'http',
  'http2',
  'https',
  'net',
  'os',
  'path',
  'perf_hooks',
  'process',
  'readline',
  'stream',
  'timers',
  'tls',
  'url',
  'util',
  'v8',
  'vm',
  'worker_threads',
  'zlib',
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.data/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'import-x/no-cycle': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Read configuration through src/config.ts; process.env belongs to src/config.ts and src/main/*.',
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { '@typescript-eslint/explicit-module-boundary-types': 'error' },
  },
  {
    // Entry points, infrastructure launchers, tests, scripts and benchmarks may read the environment.
    files: ['src/config.ts', 'src/main/**', 'src/infra/**', 'test/**', 'scripts/**', 'bench/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['test/**', 'bench/**', 'scripts/**'],
    rules: { '@typescript-eslint/explicit-module-boundary-types': 'off' },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.flatMap((name) => [
              { name, message: 'Workflow code runs in the deterministic sandbox: no Node built-ins.' },
              { name: `node:${name}`, message: 'Workflow code runs in the deterministic sandbox: no Node built-ins.' },
            ]),
            ...[
              'pg',
              'kysely',
              'openai',
              '@anthropic-ai/sdk',
              'koa',
              '@koa/router',
              '@temporalio/activity',
              '@temporalio/worker',
              '@temporalio/client',
            ].map((name) => ({
              name,
              message:
                'Workflows orchestrate: database, HTTP, provider and worker code belongs in activities/ or src/.',
            })),
          ],
          patterns: [
            {
              group: ['**/src/db/**', '**/src/api/**', '**/src/llm/*.provider', '**/src/stream/pg-*'],
              message: 'Not allowed in workflow code.',
            },
            {
              group: ['**/activities', '**/activities/**'],
              allowTypeImports: true,
              message: 'Workflows import activities by type only (proxyActivities<Activities>).',
            },
          ],
        },
      ],
    },
  },
);

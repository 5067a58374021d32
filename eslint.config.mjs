// Lint rules that enforce the import boundaries (docs/architecture.md): workflow code stays
// deterministic (value imports from an allow-list of pure modules only; activities by type only),
// process.env is read only by config and entry points, and promises are never left floating.
import js from '@eslint/js';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/**
 * What workflow code may import as values. Everything a workflow imports is bundled into Temporal's
 * deterministic sandbox, so the list is short and each entry is pure: the workflow SDK, the common
 * SDK types, files of workflows/ itself (`./x`), and the import-free src modules the workflows need.
 * Anything else (activities, src/turn, the database) only with `import type`, which compiles away.
 * Specifiers are written as the files in workflows/ write them.
 */
const workflowValueImports = [
  '@temporalio/workflow',
  '@temporalio/common',
  '../src/messages/chat-status',
  '../src/messages/error-payload',
  '../src/temporal/search-attributes',
  '../src/temporal/task-queues',
  '../src/temporal/workflow-ids',
  '../src/tools/subagent-names',
];
const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** Matches every import source that is neither `./<file>` nor on the list above. */
const notAWorkflowValueImport = `^(?!\\./[^/]+$)(?!(?:${workflowValueImports.map(escapeRegExp).join('|')})$)`;

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.data/**', 'bench/results/**', 'src/client/schema.d.ts'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
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
    // CommonJS tool configs (.dependency-cruiser.cjs) run in Node.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', require: 'readonly' } },
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
          patterns: [
            {
              regex: notAWorkflowValueImport,
              caseSensitive: true,
              allowTypeImports: true,
              message:
                'Workflow code runs in the deterministic sandbox: value imports only from @temporalio/workflow, ' +
                '@temporalio/common, workflows/ and the pure modules listed in eslint.config.mjs ' +
                '(workflowValueImports); anything else with `import type`.',
            },
          ],
        },
      ],
    },
  },
);

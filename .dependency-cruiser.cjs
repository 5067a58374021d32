/**
 * The import graph's rules (`npm run check:deps`, part of `npm test`): no circles, type-only
 * imports included, and the layering of docs/architecture.md. src/api is the HTTP edge, src/admin
 * is the API's, the worker (src/turn, activities, workflows) never loads it, the chat lifecycle
 * (src/chat) reaches Temporal only through its TurnLauncher port, and the few src modules the
 * workflow sandbox loads stay import-free. ESLint checks the workflow files' own imports
 * (eslint.config.mjs); these rules check the graph.
 */

/** The src modules workflows may import as values (eslint.config.mjs keeps the same list). */
const SANDBOX_MODULES = [
  '^src/messages/chat-status[.]ts$',
  '^src/messages/error-payload[.]ts$',
  '^src/temporal/search-attributes[.]ts$',
  '^src/temporal/task-queues[.]ts$',
  '^src/temporal/workflow-ids[.]ts$',
  '^src/tools/subagent-names[.]ts$',
];

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment:
        'A circle makes load order matter and the modules inseparable. Type-only imports count too: they ' +
        'tie the modules together just the same. Move the shared part into a module both import.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'api-is-the-edge',
      severity: 'error',
      comment:
        'src/api is the HTTP surface (Koa, routes, schemas, AppDeps): domain code never reaches up into it. ' +
        'Only the composition root (src/main), tests and the client generator (its OpenAPI document) import it.',
      from: { pathNot: ['^src/api/', '^src/main/', '^test/', '^scripts/generate-client[.]ts$'] },
      to: { path: '^src/api/' },
    },
    {
      name: 'client-is-standalone',
      severity: 'error',
      comment:
        'src/client is the typed HTTP client (README "Client"): it runs anywhere a fetch does, so it imports ' +
        'nothing from the server, only its generated schema, its own modules and its npm packages.',
      from: { path: '^src/client/' },
      to: { pathNot: ['^src/client/', '(^|/)node_modules/'] },
    },
    {
      name: 'server-without-client',
      severity: 'error',
      comment:
        'The server never depends on its own client; scripts, tests, the CLI (src/main) and the terminal ' +
        'client (src/terminal) may use it.',
      from: { path: '^(src|activities|workflows)/', pathNot: ['^src/client/', '^src/main/', '^src/terminal/'] },
      to: { path: '^src/client/' },
    },
    {
      name: 'terminal-uses-the-client',
      severity: 'error',
      comment:
        'src/terminal is `chatd chat` (README "Terminal client"): it talks to chatd only through the typed ' +
        'client, so it imports src/client, its own modules and node built-ins, nothing of the server.',
      from: { path: '^src/terminal/' },
      to: { pathNot: ['^src/terminal/', '^src/client/'], dependencyTypesNot: ['core'] },
    },
    {
      name: 'playground-uses-the-client',
      severity: 'error',
      comment:
        'web/ is the browser playground (README "Playground"): it talks to chatd only through the typed ' +
        'client, so from the server tree it imports src/client and nothing else.',
      from: { path: '^web/' },
      to: { pathNot: ['^web/', '^src/client/', '^node_modules/'] },
    },
    {
      name: 'worker-without-admin',
      severity: 'error',
      comment:
        'src/admin holds the API-side admin services; the worker (src/turn, activities, workflows) shares ' +
        'storage keys with them through src/turn/settings-keys.ts instead of loading them.',
      from: { path: '^(src/turn|activities|workflows)/' },
      to: { path: '^src/admin/' },
    },
    {
      name: 'chat-lifecycle-without-temporal',
      severity: 'error',
      comment:
        'src/chat drives turns through its TurnLauncher port (src/chat/turn-launcher.ts); the Temporal ' +
        'implementation lives in src/temporal, so the chat lifecycle never imports Temporal code.',
      from: { path: '^src/chat/' },
      to: { path: ['^src/temporal/', '^workflows/', '^activities/'] },
    },
    {
      name: 'src-is-runtime-neutral',
      severity: 'error',
      comment:
        'Domain code does not know the Temporal runtimes: only src/temporal (worker and client) and the ' +
        'composition root (src/main) import workflows/ or activities/.',
      from: { path: '^src/', pathNot: ['^src/temporal/', '^src/main/'] },
      to: { path: ['^workflows/', '^activities/'] },
    },
    {
      name: 'sandbox-modules-stay-pure',
      severity: 'error',
      comment:
        'Workflows bundle these modules into the deterministic sandbox, and everything they import with ' +
        'them: values only from @temporalio/common and each other (types from anywhere).',
      from: { path: SANDBOX_MODULES },
      to: {
        pathNot: [...SANDBOX_MODULES, '(^|/)node_modules/@temporalio/common/'],
        dependencyTypesNot: ['type-only'],
      },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports are part of the graph (they are erased only after compilation).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    reporterOptions: { text: { highlightFocused: true } },
  },
};

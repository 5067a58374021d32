/**
 * `npm run build`'s second step: bundles chatd's workflows once, so a compiled worker starts without
 * webpack (src/temporal/create-worker.ts picks these files up from dist/). Two bundles: the plain one,
 * and one with tracing's workflow interceptor module for workers with tracing on (README "Traces"); a
 * prebuilt bundle cannot take interceptor modules at worker start.
 *   tsx scripts/build-workflow-bundle.ts [outDir=dist]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflowCode, DefaultLogger, Runtime } from '@temporalio/worker';
import { PREBUILT_BUNDLE_FILES } from '../src/temporal/create-worker';
import { TRACING_WORKFLOW_MODULES } from '../src/tracing/temporal';

async function main(outDir: string): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  mkdirSync(outDir, { recursive: true });
  const workflowsPath = require.resolve('../workflows');
  for (const [file, modules] of [
    [PREBUILT_BUNDLE_FILES.plain, []],
    [PREBUILT_BUNDLE_FILES.traced, [...TRACING_WORKFLOW_MODULES]],
  ] as const) {
    const { code } = await bundleWorkflowCode({
      workflowsPath,
      workflowInterceptorModules: [...modules],
      logger: new DefaultLogger('WARN'),
    });
    writeFileSync(path.join(outDir, file), code);
    process.stderr.write(`workflow bundle: ${path.join(outDir, file)} (${Math.round(code.length / 1024)} KiB)\n`);
  }
}

main(path.resolve(process.argv[2] ?? 'dist')).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

/**
 * Stops what global-setup.ts started, newest first, and restores the environment it changed. Every
 * stack-backed tier names this file as its globalTeardown; Jest calls it after the last test of the run,
 * and only the first call finds a stack to stop.
 */
import { currentTestStack, forgetTestStack, runStops } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const stack = currentTestStack();
  if (!stack) return;
  forgetTestStack();
  // A setup that failed has already cleaned up after itself.
  await stack.ready.catch(() => undefined);
  process.stderr.write('chatd test stack: stopping\n');
  await runStops(stack.stops);
}

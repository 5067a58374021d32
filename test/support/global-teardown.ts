/** Stops what global-setup.ts started, newest first. */
export default async function globalTeardown(): Promise<void> {
  const shared = (globalThis as { __chatdTest?: { stops: Array<() => Promise<void>> } }).__chatdTest;
  for (const stop of (shared?.stops ?? []).reverse()) await stop().catch(() => undefined);
}

/**
 * Polls `check` until it returns a value other than undefined (a condition, never a fixed sleep);
 * throws with `what` and the last value seen after `timeoutMs`.
 */
export async function until<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 60_000,
  describeLast?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${describeLast ? `; last: ${await describeLast()}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls a condition in tests where no event announces the change (bounded; fails with a clear message). */
export async function waitUntil(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<void> {
  await until(async () => ((await check()) ? true : undefined), what, timeoutMs);
}

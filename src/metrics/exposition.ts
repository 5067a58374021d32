/**
 * Reading another exporter's Prometheus text (the Temporal SDK's, on a loopback port) to serve it with
 * chatd's own metrics on one `/metrics`. Its metric names are prefixed (`temporal_`), so the two never
 * name the same family.
 */

/** Bounds a scrape's wait for the other exporter: `/metrics` answers without its part rather than hang. */
const FETCH_TIMEOUT_MS = 2000;

/** The exporter's text, ending with a newline; '' when it cannot be read (its part is left out). */
export async function fetchExposition(url: string, timeoutMs: number = FETCH_TIMEOUT_MS): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) {
      await res.body?.cancel();
      return '';
    }
    const text = await res.text();
    return text.trim() === '' ? '' : `${text.trimEnd()}\n`;
  } catch {
    return '';
  }
}

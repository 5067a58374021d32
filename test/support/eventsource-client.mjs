// A standard EventSource client (the `eventsource` npm package, unmodified) for e2e tests, run as
// a child process because the package is ESM-only. Usage: node eventsource-client.mjs <url>
// <comma-separated event types> [token]. Prints one JSON line per event, open and error.
/* global process, fetch, setInterval, clearInterval */
import { EventSource } from 'eventsource';

const [url, types, token] = process.argv.slice(2);
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

const source = new EventSource(
  url,
  token
    ? {
        fetch: (input, init) =>
          fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } }),
      }
    : {},
);
source.addEventListener('open', () => print({ type: 'open' }));
source.addEventListener('error', (event) =>
  print({ type: 'error', message: String(event.message ?? event.code ?? '') }),
);
for (const type of types.split(',').filter(Boolean)) {
  source.addEventListener(type, (event) => {
    // A connection error is also dispatched as `error`, without data: only server events are reported here.
    if (typeof event.data === 'string') print({ type: 'event', id: event.lastEventId, event: type, data: event.data });
  });
}
// EventSource unrefs its reconnect timer; an application keeps its process alive by other means.
const keepAlive = setInterval(() => undefined, 60_000);
process.on('SIGTERM', () => {
  clearInterval(keepAlive);
  source.close();
  process.exit(0);
});

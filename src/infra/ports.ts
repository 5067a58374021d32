/**
 * Port checks before `npm start` starts a server (INFRA): a port that is taken fails the start with
 * a message naming the port, the variable that sets it and what to do, instead of a server that
 * cannot bind (or, for Temporal, a readiness check that reaches a stale server on the same port).
 */
import * as net from 'node:net';
import type { Config } from '../config';

export interface PortNeed {
  port: number;
  host: string;
  /** What listens there, e.g. "the embedded Temporal frontend". */
  what: string;
  /** The environment variable that sets the port. */
  variable: string;
}

/** Thrown when ports a start needs are taken; `message` names each one and the way out. */
export class PortInUseError extends Error {
  constructor(readonly taken: PortNeed[]) {
    super(
      [
        `cannot start: ${taken.length === 1 ? 'a port it needs is' : 'ports it needs are'} in use`,
        ...taken.map(
          (p) =>
            `  - port ${p.port} (${p.what}, set by ${p.variable}) is in use on ${p.host}: stop what listens there ` +
            `(\`ss -ltnp 'sport = :${p.port}'\` shows it; an earlier chatd may still be running) or set ${p.variable} to a free port`,
        ),
      ].join('\n'),
    );
    this.name = 'PortInUseError';
  }
}

/** True when something accepts connections on host:port, or the port cannot be bound there. */
export async function portInUse(host: string, port: number): Promise<boolean> {
  const bindable = await new Promise<boolean>((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
  if (!bindable) return true;
  // A listener on another address of the same port (e.g. 0.0.0.0 vs ::) may not block the bind.
  const connectHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return new Promise<boolean>((resolve) => {
    const socket = net.connect({ port, host: connectHost });
    socket.setTimeout(1_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Throws PortInUseError listing every taken port of `needs` (port 0: any free port, never checked). */
export async function assertPortsFree(needs: PortNeed[]): Promise<void> {
  const checked = await Promise.all(
    needs.filter((n) => n.port !== 0).map(async (n) => ((await portInUse(n.host, n.port)) ? n : null)),
  );
  const taken = checked.filter((n): n is PortNeed => n !== null);
  if (taken.length > 0) throw new PortInUseError(taken);
}

/**
 * assertPortsFree, retried for up to `withinMs`: right after a leftover server was stopped, the ports
 * it held can take a moment to be released.
 */
export async function awaitPortsFree(needs: PortNeed[], withinMs: number): Promise<void> {
  for (const end = Date.now() + withinMs; ;) {
    try {
      return await assertPortsFree(needs);
    } catch (err) {
      if (!(err instanceof PortInUseError) || Date.now() >= end) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** The ports `npm start` needs: the API's, and the embedded Temporal's unless TEMPORAL_ADDRESS is set. */
export function embeddedPorts(config: Config): { api: PortNeed[]; temporal: PortNeed[] } {
  const local = (port: number, what: string, variable: string): PortNeed => ({
    port,
    host: '127.0.0.1',
    what,
    variable,
  });
  return {
    api: [{ ...local(config.http.port, 'the chatd API', 'CHATD_HTTP_PORT'), host: config.http.host }],
    temporal: config.temporal.address
      ? []
      : [
          local(config.dev.temporalPort, 'the embedded Temporal frontend', 'CHATD_TEMPORAL_PORT'),
          local(config.dev.temporalUiPort, 'the Temporal Web UI', 'CHATD_TEMPORAL_UI_PORT'),
        ],
  };
}

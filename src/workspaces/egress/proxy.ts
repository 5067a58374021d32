/**
 * The egress proxy of one workspace: an HTTP proxy on a Unix socket that the workspace's sandbox (which
 * has no network of its own) reaches through its bridge (`bridge.ts`). It tunnels `CONNECT host:port`
 * (HTTPS and anything else over TLS) and forwards plain `http://` requests, each only after `admission.ts`
 * has allowed the host and vetted every address it resolves to; it then connects to a vetted address,
 * never to the name. Refusals are one line of plain text, written for the model that ran the command.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import { admit, type Admission, type AdmissionDeps, type Lookup } from './admission';
import { isPermittedDestination, type DestinationCheck } from './destination';
import type { EgressPolicy } from './policy';
import { forwardableHeaders, parseConnectTarget, parseHttpTarget, type Target } from './request-target';

/** The part of a pino logger the proxy uses. */
export interface EgressLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface EgressProxyOptions {
  /**
   * Where to listen. A stale socket there is replaced; a missing directory is created with mode 0711
   * (bwrap, launched as the sandbox's uid, must be able to reach the socket to bind-mount it).
   */
  socketPath: string;
  policy: EgressPolicy;
  /** Resolves a name to all its addresses; defaults to the system resolver. */
  lookup?: Lookup;
  /** Which addresses may be connected to; defaults to public unicast, not this host's (`destination.ts`). */
  isPermittedAddress?: DestinationCheck;
  /** Bound on one name lookup and on one connection attempt. Default 10 s. */
  connectTimeoutMs?: number;
  /** Tunnels and forwarded requests open at once; more are answered 503. Default 64. */
  maxConnections?: number;
  /** A tunnel with no traffic either way for this long is closed. Default 10 min. */
  idleTimeoutMs?: number;
  log?: EgressLog;
}

export interface EgressProxy {
  socketPath: string;
  /** Stops listening, destroys every open connection and removes the socket file. */
  close(): Promise<void>;
}

const systemLookup: Lookup = async (host) => (await dnsLookup(host, { all: true })).map((a) => a.address);

/** Starts the proxy; resolves once it listens on `socketPath` (mode 0666: the sandbox's uid differs). */
export async function startEgressProxy(options: EgressProxyOptions): Promise<EgressProxy> {
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  const maxConnections = options.maxConnections ?? 64;
  const idleTimeoutMs = options.idleTimeoutMs ?? 600_000;
  const deps: AdmissionDeps = {
    policy: options.policy,
    lookup: options.lookup ?? systemLookup,
    isPermittedAddress: options.isPermittedAddress ?? isPermittedDestination,
    timeoutMs,
  };
  const log = options.log;
  const sockets = new Set<Duplex>();
  let active = 0;
  let closed = false;

  const track = <T extends Duplex>(socket: T): T => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    return socket;
  };

  /** Reserves a connection slot, or null when all are taken. The release is idempotent. */
  const acquire = (): (() => void) | null => {
    if (closed || active >= maxConnections) return null;
    active += 1;
    let released = false;
    return () => {
      if (!released) active -= 1;
      released = true;
    };
  };

  const decide = async (target: Target, kind: 'connect' | 'http'): Promise<Admission> => {
    const admission = await admit(target, deps);
    if (!admission.ok)
      log?.info({ host: target.host, port: target.port, kind, reason: admission.detail }, 'egress refused');
    return admission;
  };

  const handleConnect = async (req: http.IncomingMessage, client: Duplex, head: Buffer): Promise<void> => {
    track(client);
    client.on('error', () => client.destroy());
    const target = parseConnectTarget(req.url);
    if (!target) return void client.end(rawResponse(400, 'chatd egress: expected CONNECT host:port'));
    const release = acquire();
    if (!release) return void client.end(rawResponse(503, busyReason(maxConnections)));
    client.once('close', release);
    const admission = await decide(target, 'connect');
    if (!admission.ok) return void client.end(rawResponse(admission.status, admission.reason));
    const upstream = await connectFirst(admission.addresses, target.port, timeoutMs, track);
    if (typeof upstream === 'string') {
      log?.info({ host: target.host, port: target.port, kind: 'connect', error: upstream }, 'egress connect failed');
      return void client.end(rawResponse(502, `chatd egress: could not connect to ${req.url} (${upstream})`));
    }
    if (client.destroyed) return void upstream.destroy();
    const teardown = (): void => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', teardown).on('close', teardown);
    client.on('close', teardown);
    upstream.setTimeout(idleTimeoutMs, teardown);
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  };

  const handleRequest = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const target = parseHttpTarget(req.url);
    if (!target) {
      return textResponse(res, 400, 'chatd egress: expected an absolute http:// URL (https goes through CONNECT)');
    }
    const release = acquire();
    if (!release) return textResponse(res, 503, busyReason(maxConnections));
    res.once('close', release);
    const admission = await decide(target, 'http');
    if (!admission.ok) return textResponse(res, admission.status, admission.reason);
    const socket = await connectFirst(admission.addresses, target.port, timeoutMs, track);
    if (typeof socket === 'string') {
      log?.info({ host: target.host, port: target.port, kind: 'http', error: socket }, 'egress connect failed');
      return textResponse(res, 502, `chatd egress: could not connect to ${target.hostHeader} (${socket})`);
    }
    res.once('close', () => socket.destroy());
    const headers = { ...forwardableHeaders(req.headers), host: target.hostHeader, connection: 'close' };
    const upstream = http.request({
      method: req.method,
      path: target.path,
      headers,
      setHost: false,
      createConnection: () => socket,
    });
    upstream.on('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, forwardableHeaders(answer.headers));
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (err) => {
      if (res.headersSent) return void res.destroy();
      textResponse(res, 502, `chatd egress: ${target.hostHeader} failed (${err.message})`);
    });
    req.pipe(upstream);
  };

  const server = http.createServer({ requestTimeout: 0, headersTimeout: 30_000 });
  // A backstop on idle client connections (keep-alive, half-sent requests) besides the slot count.
  server.maxConnections = maxConnections * 2;
  server.on('connection', (socket: net.Socket) => track(socket));
  server.on('connect', (req: http.IncomingMessage, client: Duplex, head: Buffer) => {
    handleConnect(req, client, head).catch((err: unknown) => {
      log?.warn({ err }, 'egress proxy CONNECT failed');
      client.destroy();
    });
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    handleRequest(req, res).catch((err: unknown) => {
      log?.warn({ err }, 'egress proxy request failed');
      res.destroy();
    });
  });
  // WebSocket and other upgrades over plain HTTP would bypass forwarding; TLS ones go through CONNECT.
  server.on('upgrade', (_req: http.IncomingMessage, client: Duplex) => {
    client.end(rawResponse(400, 'chatd egress: protocol upgrades are not proxied; use wss:// or https://'));
  });

  await prepareSocketPath(options.socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log?.warn({ err }, 'egress proxy server error'));
  await chmod(options.socketPath, 0o666);

  return {
    socketPath: options.socketPath,
    close: async () => {
      if (closed) return;
      closed = true;
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await stopped;
      await unlink(options.socketPath).catch(() => undefined);
    },
  };
}

/** Creates the socket's directory when missing and removes a stale socket; refuses to remove other files. */
async function prepareSocketPath(socketPath: string): Promise<void> {
  await mkdir(path.dirname(socketPath), { recursive: true, mode: 0o711 });
  const existing = await lstat(socketPath).catch(() => null);
  if (existing === null) return;
  if (!existing.isSocket()) throw new Error(`Egress proxy socket path ${socketPath} exists and is not a socket.`);
  await unlink(socketPath);
}

/** Connects to the first address that answers within `timeoutMs`; the last error's text otherwise. */
async function connectFirst(
  addresses: string[],
  port: number,
  timeoutMs: number,
  track: (socket: net.Socket) => net.Socket,
): Promise<net.Socket | string> {
  let last = 'no address';
  for (const ip of addresses) {
    const result = await new Promise<net.Socket | string>((resolve) => {
      const socket = track(net.connect({ host: ip, port }));
      const timer = setTimeout(() => {
        socket.destroy();
        resolve('timed out');
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(err.code ?? err.message);
      });
    });
    if (typeof result !== 'string') return result;
    last = result;
  }
  return last;
}

function busyReason(max: number): string {
  return `chatd egress: too many open connections from this workspace (limit ${max}); retry shortly`;
}

/** A complete response written straight to a raw socket (CONNECT and upgrade paths have no ServerResponse). */
function rawResponse(status: number, text: string): string {
  const body = `${text}\n`;
  return (
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

function textResponse(res: http.ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  const body = `${text}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  res.end(body);
}

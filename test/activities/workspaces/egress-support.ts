/**
 * Shared pieces of the egress tests: a loopback HTTP server that echoes what it received, a raw proxy
 * client over the proxy's Unix socket (CONNECT and forwarded requests, reading the whole answer), and
 * a proxy on a fresh temp socket.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startEgressProxy, type EgressProxy, type EgressProxyOptions } from '../../../src/workspaces/egress/proxy';

export interface EchoServer {
  port: number;
  /** Requests received: method, url and headers. */
  seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 answering `echo <method> <url>` (a stand-in for a host-local service). */
export async function startEchoServer(): Promise<EchoServer> {
  const seen: EchoServer['seen'] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    res.setHeader('proxy-authenticate', 'Basic');
    res.end(`echo ${req.method} ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface ProxyFixture {
  dir: string;
  proxy: EgressProxy;
  refusals: Array<Record<string, unknown>>;
  cleanup(): Promise<void>;
}

/** A proxy on `<tmp>/egress.sock` that records its info logs. */
export async function startProxy(options: Omit<EgressProxyOptions, 'socketPath'>): Promise<ProxyFixture> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chatd-egress-'));
  const refusals: Array<Record<string, unknown>> = [];
  const proxy = await startEgressProxy({
    socketPath: path.join(dir, 'egress.sock'),
    log: { info: (obj) => refusals.push(obj as Record<string, unknown>), warn: () => undefined },
    ...options,
  });
  return {
    dir,
    proxy,
    refusals,
    cleanup: async () => {
      await proxy.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Writes `request` to the socket and resolves with everything read until the proxy closes. */
export function rawExchange(socketPath: string, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let data = '';
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(data));
    socket.write(request);
  });
}

/** A status line and body of a complete HTTP response text. */
export function parseResponse(text: string): { status: number; body: string; head: string } {
  const end = text.indexOf('\r\n\r\n');
  const head = end < 0 ? text : text.slice(0, end);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), body: text.slice(end + 4), head };
}

/** Opens a CONNECT tunnel; resolves with the socket once the proxy answers 200 (rejects otherwise). */
export function openTunnel(socketPath: string, authority: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let data = '';
    const onData = (chunk: Buffer): void => {
      data += chunk.toString('latin1');
      if (!data.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      if (data.startsWith('HTTP/1.1 200')) resolve(socket);
      else {
        socket.destroy();
        reject(new Error(data));
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  });
}

/** Sends one HTTP/1.1 GET through an open tunnel and resolves with the whole response text. */
export function getThrough(tunnel: net.Socket, host: string, pathname: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    tunnel.on('data', (chunk: Buffer) => (data += chunk.toString()));
    tunnel.on('error', reject);
    tunnel.on('close', () => resolve(data));
    tunnel.write(`GET ${pathname} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  });
}

/**
 * What a proxy request asks for, read from the request line: the `host:port` of a CONNECT, or the
 * absolute `http://` URI of a forwarded request, plus the header rewriting forwarding needs. Pure, so
 * the parsing of model-written requests is tested without sockets; `proxy.ts` acts on the result.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';

/** A destination as requested: `host` is a name or an IP literal (IPv6 without brackets). */
export interface Target {
  host: string;
  port: number;
}

/** A plain HTTP request to forward: where to, the path to ask for, and the Host header to send. */
export interface HttpTarget extends Target {
  path: string;
  hostHeader: string;
}

function parsePort(text: string): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : null;
}

/** The authority of `CONNECT host:port` or `CONNECT [v6]:port`; null when malformed or without a port. */
export function parseConnectTarget(authority: string | undefined): Target | null {
  if (!authority) return null;
  const bracketed = /^\[([^\]]+)\]:([^:]*)$/.exec(authority);
  if (bracketed) {
    const port = parsePort(bracketed[2] ?? '');
    const host = bracketed[1] ?? '';
    return port !== null && isIP(host) === 6 ? { host, port } : null;
  }
  const colon = authority.lastIndexOf(':');
  if (colon <= 0) return null;
  const host = authority.slice(0, colon);
  const port = parsePort(authority.slice(colon + 1));
  return port !== null && !host.includes(':') && !/[\s/@\\]/.test(host) ? { host, port } : null;
}

/**
 * The target of a forwarded request, whose request line must carry an absolute `http://` URI (what a
 * client configured with HTTP_PROXY sends). Null for origin-form paths, other schemes and credentials
 * in the URI. The WHATWG parser canonicalizes the host (case, numeric IPv4 forms such as `0x7f.1`).
 */
export function parseHttpTarget(uri: string | undefined): HttpTarget | null {
  if (!uri || !/^http:\/\//i.test(uri)) return null;
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return null;
  }
  if (url.protocol !== 'http:' || url.username !== '' || url.password !== '' || url.hostname === '') return null;
  const port = url.port === '' ? 80 : parsePort(url.port);
  if (port === null) return null;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port, path: `${url.pathname}${url.search}`, hostHeader: url.host };
}

// Hop-by-hop headers (RFC 9110 §7.6.1) concern one connection and are never forwarded; Expect is
// answered by the proxy itself, and Proxy-* headers are meant for the proxy.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
]);

/**
 * Headers to pass on in either direction: without hop-by-hop headers, those the Connection header
 * names, and any `Proxy-*` header. `Host` is dropped too; requests get the URI's authority instead.
 */
export function forwardableHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = String(headers.connection ?? '')
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter(Boolean);
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || lower.startsWith('proxy-') || named.includes(lower)) continue;
    out[name] = value;
  }
  return out;
}

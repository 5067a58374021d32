/**
 * What a workspace sandbox needs to use its egress proxy: the bind mount of the proxy's Unix socket into
 * the workspace's holder, the socat bridge the holder runs from TCP 127.0.0.1:<port> in the workspace's
 * network namespace to that socket (HTTP clients speak to a TCP proxy, not a socket file), and the proxy
 * variables commands read. Pure argument building; `workspace-sandbox.ts` composes it.
 */
import * as path from 'node:path';

/** Where the proxy socket appears inside the holder. */
export const SANDBOX_PROXY_SOCKET = '/run/chatd/egress.sock';

/** The TCP port the bridge listens on inside the workspace's network namespace (loopback only). */
export const BRIDGE_PORT = 3128;

/**
 * bwrap options that make `hostSocketPath` visible at SANDBOX_PROXY_SOCKET. They do not unshare the
 * network: the caller must, or the proxy is not the only way out.
 */
export function egressBind(hostSocketPath: string): string[] {
  return ['--dir', path.posix.dirname(SANDBOX_PROXY_SOCKET), '--bind', hostSocketPath, SANDBOX_PROXY_SOCKET];
}

/** The bridge, running in the foreground until killed (the holder keeps it for the workspace's commands). */
export function bridgeArgv(socatPath: string, port: number = BRIDGE_PORT): string[] {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`Invalid bridge port ${port}.`);
  return [socatPath, `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${SANDBOX_PROXY_SOCKET}`];
}

/** Variables that point HTTP clients (curl, git, npm, pip, Node with NODE_USE_ENV_PROXY) at the bridge. */
export function egressEnv(port: number = BRIDGE_PORT): Record<string, string> {
  const proxy = `http://127.0.0.1:${port}`;
  const noProxy = 'localhost,127.0.0.1,::1';
  return {
    HTTP_PROXY: proxy,
    HTTPS_PROXY: proxy,
    http_proxy: proxy,
    https_proxy: proxy,
    NO_PROXY: noProxy,
    no_proxy: noProxy,
    npm_config_proxy: proxy,
    npm_config_https_proxy: proxy,
    npm_config_noproxy: noProxy,
    PIP_PROXY: proxy,
    // Node 24's http, https and fetch ignore the proxy variables unless asked to honour them.
    NODE_USE_ENV_PROXY: '1',
  };
}

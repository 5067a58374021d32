/**
 * What a sandbox needs to use its egress proxy: the bind mount of the proxy's Unix socket, the proxy
 * variables commands read, and the socat bridge from TCP 127.0.0.1:<port> inside the sandbox's own
 * network namespace to that socket (HTTP clients speak to a TCP proxy, not a socket file). Pure
 * argument building, so the launcher (`sandbox.ts`) composes it and tests run it under a real bwrap.
 */
import { accessSync, constants, statSync } from 'node:fs';
import * as path from 'node:path';

/** Where the proxy socket appears inside the sandbox. */
export const SANDBOX_PROXY_SOCKET = '/run/chatd/egress.sock';

/** The TCP port the bridge listens on inside the sandbox (loopback only). */
export const DEFAULT_BRIDGE_PORT = 3128;

export interface SandboxNetwork {
  /**
   * bwrap options that make the host socket visible at SANDBOX_PROXY_SOCKET. They do not unshare the
   * network: the caller must (`--unshare-all` without `--share-net`, or `--unshare-net`), or the proxy
   * is not the only way out.
   */
  bwrapArgs: string[];
  /** Variables that point HTTP clients (curl, git, npm, pip, Node with NODE_USE_ENV_PROXY) at the bridge. */
  env: Record<string, string>;
  /**
   * The bridge alone, running in the foreground until killed: for a long-lived process that owns the
   * sandbox's network namespace, which commands then join.
   */
  bridgeArgv: string[];
  /**
   * The argv to run after bwrap's `--` for one command with its own bridge: `shell -c <fixed script>`
   * with socat, the port, the socket and `command` as positional parameters. The script starts the
   * bridge, waits (at most ~1 s) until it listens, runs `command` with `"$BASH" -c`, stops the bridge
   * and exits with the command's status. `command` is passed as one argument, never quoted or
   * interpolated into the script. `shell` must be bash (the readiness probe uses `/dev/tcp`).
   */
  wrap(command: string, shell?: string): string[];
}

/**
 * The wrapper script of `wrap()`. It is constant: everything variable arrives as `$1`… `$4`. A bridge
 * that fails to start is reported on stderr but does not stop the command (which may not need the
 * network); the model then sees both the warning and the command's own connection error.
 */
export const BRIDGE_WRAPPER_SCRIPT = [
  'socat=$1 port=$2 sock=$3 cmd=$4',
  '"$socat" TCP-LISTEN:"$port",bind=127.0.0.1,fork,reuseaddr UNIX-CONNECT:"$sock" </dev/null >/dev/null 2>&1 &',
  'bridge=$!',
  'ready=',
  'for ((i = 0; i < 100; i++)); do',
  '  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ready=1; break; fi',
  '  kill -0 "$bridge" 2>/dev/null || break',
  '  sleep 0.01',
  'done',
  '[ -n "$ready" ] || echo "chatd egress: the network bridge did not start; network access will fail" >&2',
  '"$BASH" -c "$cmd"',
  'status=$?',
  'kill "$bridge" 2>/dev/null',
  'wait "$bridge" 2>/dev/null',
  'exit "$status"',
].join('\n');

/** The proxy URL commands use inside the sandbox. */
export function bridgeProxyUrl(port: number = DEFAULT_BRIDGE_PORT): string {
  return `http://127.0.0.1:${port}`;
}

/**
 * The pieces to give a sandbox egress through the proxy listening on `hostSocketPath` (see
 * `startEgressProxy`), bridged by `socatPath` (a path valid inside the sandbox) on `port`.
 */
export function sandboxNetwork(
  hostSocketPath: string,
  socatPath: string,
  port: number = DEFAULT_BRIDGE_PORT,
): SandboxNetwork {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`Invalid bridge port ${port}.`);
  const proxy = bridgeProxyUrl(port);
  const noProxy = 'localhost,127.0.0.1,::1';
  const env: Record<string, string> = {
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
  const listen = `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`;
  const connect = `UNIX-CONNECT:${SANDBOX_PROXY_SOCKET}`;
  return {
    bwrapArgs: ['--dir', path.posix.dirname(SANDBOX_PROXY_SOCKET), '--bind', hostSocketPath, SANDBOX_PROXY_SOCKET],
    env,
    bridgeArgv: [socatPath, listen, connect],
    wrap: (command, shell = '/bin/bash') => [
      shell,
      '-c',
      BRIDGE_WRAPPER_SCRIPT,
      'chatd-egress',
      socatPath,
      String(port),
      SANDBOX_PROXY_SOCKET,
      command,
    ],
  };
}

/** The first executable `socat` on `pathEnv` (a PATH value), or null. */
export function findSocat(pathEnv: string): string | null {
  for (const dir of pathEnv.split(':')) {
    if (!dir || !path.isAbsolute(dir)) continue;
    const candidate = path.join(dir, 'socat');
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; keep looking.
    }
  }
  return null;
}

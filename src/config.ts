/**
 * chatd's configuration: one zod schema over the environment, validated once at boot. Only
 * src/main/* calls parseConfig(process.env); everything else receives the frozen Config.
 */
import { hostname } from 'node:os';
import { z } from 'zod';
import { isP256PrivateKey, isP256PublicKey, isVapidKeyPair, isVapidSubject, type VapidKeyPair } from './push/keys';
import { DEFAULT_HOST_PICKUP_TIMEOUT_SECONDS } from './temporal/task-queues';
import { isCgroupSetting } from './workspaces/cgroups';
import { parseEgressPolicy, type EgressPolicy } from './workspaces/egress/policy';
import { DEFAULT_LIMITS, DEFAULT_UIDS, type SandboxLimits } from './workspaces/sandbox';

const port = z.coerce.number().int().min(0).max(65535);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** Documented in README.md ("Configuration"); keep the two in sync. */
export const configSchema = z.object({
  CHATD_HTTP_HOST: z.string().default('127.0.0.1'),
  CHATD_HTTP_PORT: port.default(8080),
  // After SIGTERM, seconds the API keeps listening with /readyz answering 503 (README "Health").
  CHATD_DRAIN_SECONDS: z.coerce.number().int().min(0).max(3600).default(0),
  // Bearer token /metrics requires when set (README "Metrics"); unset: /metrics is public.
  CHATD_METRICS_TOKEN: optionalString.pipe(z.string().min(16).optional()),
  // Health and metrics server of `chatd worker` / `chatd workspace-host`; 0: none.
  CHATD_WORKER_HTTP_PORT: port.default(9464),
  DATABASE_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  CHATD_DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  // TLS and API key of every Temporal connection (README "Temporal TLS and API keys"); unset: plaintext.
  TEMPORAL_TLS: optionalString.pipe(
    z
      .enum(['true', 'false', '1', '0'])
      .transform((v) => v === 'true' || v === '1')
      .optional(),
  ),
  TEMPORAL_TLS_CERT: optionalString,
  TEMPORAL_TLS_KEY: optionalString,
  TEMPORAL_TLS_CA: optionalString,
  TEMPORAL_TLS_SERVER_NAME: optionalString,
  TEMPORAL_API_KEY: optionalString,
  CHATD_CORS_ORIGINS: optionalString.transform((v, ctx) => {
    const origins = (v ?? '')
      .split(',')
      .map((o) => o.trim())
      .filter(Boolean);
    for (const origin of origins) {
      if (!isOrigin(origin))
        ctx.addIssue({ code: 'custom', message: `${origin} is not an origin like https://app.example.com` });
    }
    return origins;
  }),
  CHATD_TASK_QUEUE: z.string().min(1).default('chatd'),
  CHATD_WORKER_MAX_ACTIVITIES: z.coerce.number().int().min(1).max(100_000).default(1000),
  CHATD_DATA_DIR: z.string().min(1).default('.data'),
  CHATD_BOOTSTRAP_ADMIN_TOKEN: optionalString.pipe(z.string().min(16).optional()),
  CHATD_ENCRYPTION_KEYS: optionalString,
  CHATD_STREAM_BUS: z.enum(['memory', 'postgres']).optional(),
  CHATD_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  CHATD_MAX_STEPS: z.coerce.number().int().min(1).max(10_000).default(1200),
  CHATD_MAX_MESSAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  CHATD_DEFAULT_MODEL: optionalString.pipe(
    z
      .string()
      .regex(/^(openai|anthropic|openai-compat):.+$/, 'expected <provider>:<model>, e.g. openai:gpt-4o-mini')
      .optional(),
  ),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalString.pipe(z.url().optional()),
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalString.pipe(z.url().optional()),
  TEMPORAL_CLI_PATH: optionalString,
  CHATD_TEMPORAL_PORT: port.default(7233),
  CHATD_TEMPORAL_UI_PORT: port.default(8233),
  CHATD_WORKSPACE_HOST_ID: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'letters, digits, ".", "_" and "-", at most 100')
      .optional(),
  ),
  CHATD_WORKSPACE_HOST_TIMEOUT: z.coerce.number().int().min(1).max(86_400).default(DEFAULT_HOST_PICKUP_TIMEOUT_SECONDS),
  CHATD_WORKER_SERVE_WORKSPACES: z
    .enum(['true', 'false', '1', '0'])
    .default('true')
    .transform((v) => v === 'true' || v === '1'),
  CHATD_EARLY_FIRST_STEP: z
    .enum(['true', 'false', '1', '0'])
    .default('true')
    .transform((v) => v === 'true' || v === '1'),
  CHATD_WORKSPACE_SANDBOX: z.enum(['bwrap', 'off']).default('bwrap'),
  CHATD_WORKSPACE_NETWORK: z
    .string()
    .default('none')
    .transform((v, ctx) => {
      try {
        return parseEgressPolicy(v);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  CHATD_WORKSPACE_MAX_PROCESSES: z.coerce.number().int().min(16).max(100_000).default(DEFAULT_LIMITS.processes),
  CHATD_WORKSPACE_MAX_MEMORY_MB: z.coerce.number().int().min(64).max(1_048_576).default(DEFAULT_LIMITS.memoryMb),
  CHATD_WORKSPACE_MAX_FILE_MB: z.coerce.number().int().min(1).max(1_048_576).default(DEFAULT_LIMITS.fileSizeMb),
  CHATD_WORKSPACE_CPU_SECONDS: z.coerce.number().int().min(1).max(31_536_000).default(DEFAULT_LIMITS.cpuSeconds),
  CHATD_WORKSPACE_MEMORY_MB: z.coerce.number().int().min(64).max(1_048_576).default(DEFAULT_LIMITS.workspaceMemoryMb),
  CHATD_WORKSPACE_CPUS: z.coerce.number().min(0.01).max(1024).default(DEFAULT_LIMITS.cpus),
  CHATD_WORKSPACE_CGROUP: z
    .string()
    .trim()
    .default('auto')
    .refine(isCgroupSetting, 'expected auto, off, or the absolute path of a delegated cgroup2 directory'),
  CHATD_WORKSPACE_IDLE_MINUTES: z.coerce.number().int().min(1).max(10_080).default(30),
  CHATD_WORKSPACE_UID_BASE: z.coerce.number().int().min(1000).max(4_000_000_000).default(DEFAULT_UIDS.base),
  CHATD_PUBLIC_URL: optionalString.pipe(
    z.url({ protocol: /^https?$/, message: 'expected the http(s) URL clients reach the API at' }).optional(),
  ),
  CHATD_WEB_DIR: optionalString,
  CHATD_MCP_CONNECT_TIMEOUT: z.coerce.number().int().min(1).max(300).default(10),
  CHATD_MCP_CALL_TIMEOUT: z.coerce.number().int().min(1).max(3600).default(120),
  CHATD_MCP_TOOLS_TTL: z.coerce.number().int().min(0).max(86_400).default(300),
  // Seconds; 30 days at most (a Temporal timer holds the wait, so days cost nothing).
  // Root-chat turns one user may run at once; 0: no limit.
  CHATD_MAX_RUNNING_TURNS_PER_USER: z.coerce.number().int().min(0).max(10_000).default(10),
  CHATD_TOOL_APPROVAL_TIMEOUT: z.coerce.number().int().min(1).max(2_592_000).default(86_400),
  // Request limits, per API process (README "Request limits"); 0 turns a limit off.
  CHATD_RATE_LIMIT_REQUESTS: z.coerce.number().int().min(0).max(1_000_000).default(300),
  CHATD_RATE_LIMIT_WINDOW: z.coerce.number().int().min(1).max(3600).default(10),
  CHATD_RATE_LIMIT_AUTH_FAILURES: z.coerce.number().int().min(0).max(1_000_000).default(30),
  CHATD_RATE_LIMIT_AUTH_WINDOW: z.coerce.number().int().min(1).max(86_400).default(60),
  CHATD_RATE_LIMIT_PROXY_HOPS: z.coerce.number().int().min(0).max(10).default(1),
  CHATD_MAX_STREAMS_PER_USER: z.coerce.number().int().min(0).max(100_000).default(32),
  // Seconds a process reuses spend-limit reads (README "Spend limits and cost"); 0: read on every check.
  CHATD_USAGE_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(10),
  CHATD_VAPID_PUBLIC_KEY: optionalString.pipe(
    z.string().refine(isP256PublicKey, 'expected a base64url uncompressed P-256 public key (65 bytes)').optional(),
  ),
  CHATD_VAPID_PRIVATE_KEY: optionalString.pipe(
    z.string().refine(isP256PrivateKey, 'expected a base64url P-256 private key (32 bytes)').optional(),
  ),
  CHATD_VAPID_SUBJECT: optionalString.pipe(
    z.string().refine(isVapidSubject, 'expected a mailto: address or an https: URL').optional(),
  ),
});

type RawConfig = z.infer<typeof configSchema>;

export interface Config {
  /** `drainMs`: after SIGTERM, how long the API keeps listening with /readyz answering 503. */
  http: { host: string; port: number; drainMs: number };
  /** The bearer token `/metrics` requires; unset: public (README "Metrics"). */
  metricsToken: string | undefined;
  /** Port of the worker roles' health and metrics server (on CHATD_HTTP_HOST); 0: no server. */
  workerHttpPort: number;
  databaseUrl: string | undefined;
  dbPoolSize: number;
  temporal: {
    address: string | undefined;
    namespace: string;
    taskQueue: string;
    /** TLS of every Temporal connection; false: plaintext (src/temporal/connection-options.ts applies it). */
    tls: TemporalTls | false;
    /** Sent as a bearer token on every Temporal call (Temporal Cloud API keys). */
    apiKey: string | undefined;
  };
  /** Browser origins that get CORS headers (exact `scheme://host[:port]`); empty: none does. */
  corsOrigins: string[];
  /** CHATD_WEB_DIR: the playground's built files; unset: the ones `npm run build:web` wrote; `off`: none served. */
  webDir: string | undefined;
  /** Activities one worker runs at once; a streaming model step holds one for the whole answer. */
  workerMaxActivities: number;
  dataDir: string;
  bootstrapAdminToken: string | undefined;
  encryptionKeys: string | undefined;
  streamBus: 'memory' | 'postgres' | undefined;
  logLevel: RawConfig['CHATD_LOG_LEVEL'];
  maxSteps: number;
  /** How long a tool call waits for the user's approval before it is denied (docs/tool-approval.md). */
  toolApprovalTimeoutMs: number;
  /** Root-chat turns one user may run at once; 0: no limit (docs/operations.md "Fair scheduling"). */
  maxRunningTurnsPerUser: number;
  maxMessageBytes: number;
  /**
   * How long a process reuses limit settings (API checks) and, far from a limit, an owner's spend (the
   * worker's check before each model call); limit changes reach workers' checks at once.
   */
  usageCacheMs: number;
  defaultModel: string | undefined;
  presets: {
    openai: { apiKey: string | undefined; baseUrl: string | undefined };
    anthropic: { apiKey: string | undefined; baseUrl: string | undefined };
  };
  dev: { temporalCliPath: string | undefined; temporalPort: number; temporalUiPort: number };
  /** Workspace hosts (README "Workspace hosts"). */
  workspaceHost: {
    /** This host's id: its task queue is `chatd-ws-<id>`; stable across restarts of the same machine. */
    id: string;
    /** How long a tool step waits for the workspace's host to pick it up before the model is told. */
    pickupTimeoutSeconds: number;
    /** Whether `chatd worker` also polls this host's task queue (false: a `chatd workspace-host` does). */
    servedByWorker: boolean;
  };
  /**
   * Whether a process running both the API and the worker starts a new turn's first model step as soon
   * as its message commits (docs/architecture.md "Early first step").
   */
  earlyFirstStep: boolean;
  /** The sandbox of workspace commands (docs/workspaces.md). */
  sandbox: {
    /** `off` runs commands unsandboxed: an operator opt-out, reported at start and by /readyz. */
    mode: 'bwrap' | 'off';
    /** What commands may reach when their template does not say. */
    network: EgressPolicy;
    limits: Pick<SandboxLimits, 'processes' | 'memoryMb' | 'fileSizeMb' | 'cpuSeconds' | 'workspaceMemoryMb' | 'cpus'>;
    /** Per-workspace cgroups: `auto`, `off`, or a delegated cgroup2 directory (docs/workspaces.md). */
    cgroup: string;
    /** Background processes of a workspace no tool used for this long are stopped. */
    idleMinutes: number;
    /** First host uid handed to workspaces when the worker runs as root. */
    uidBase: number;
  };
  /** The API's public base URL (no trailing slash); unset: each request's own origin (OAuth redirect URIs). */
  publicUrl: string | undefined;
  /** MCP servers (docs/mcp.md). */
  mcp: {
    /** Connecting to a server and each tool list request. */
    connectTimeoutMs: number;
    /** A tool call without a response or progress notification for this long fails. */
    callTimeoutMs: number;
    /** How long a server's tool list is reused (a `tools/list_changed` notification ends it sooner). */
    toolsTtlMs: number;
  };
  /** Request limits of each API process (README "Request limits"); a 0 count turns its limit off. */
  requestLimits: RequestLimits;
  /** Web push (docs/operations.md "Web push"). Without keys it is off, except in `chatd start`, which generates them. */
  webPush: {
    /** chatd's VAPID key pair; set only together with `subject`. */
    keys: VapidKeyPair | undefined;
    /** Contact the push services see: a `mailto:` address or an `https:` URL. */
    subject: string | undefined;
  };
}

/** Temporal TLS settings: file paths, read when a connection is made. */
export interface TemporalTls {
  /** mTLS client certificate and its key (PEM); both or neither. */
  clientCertPath: string | undefined;
  clientKeyPath: string | undefined;
  /** CA of the server's certificate (PEM); unset: the system's roots. */
  caPath: string | undefined;
  /** Name checked against the server's certificate (SNI) instead of TEMPORAL_ADDRESS's host. */
  serverName: string | undefined;
}

/** The request limits of one API process, kept in its memory (src/api/limits). */
export interface RequestLimits {
  /** Requests one API token may make per window; 0: unlimited. */
  requestsPerWindow: number;
  windowSeconds: number;
  /** Failed authentications one client address may have per auth window; one more refuses it for that window. 0: off. */
  authFailures: number;
  authWindowSeconds: number;
  /** Reverse proxies in front of the API whose X-Forwarded-For entries are trusted for the client address. */
  proxyHops: number;
  /** Open SSE streams (chat and watch) per user; 0: unlimited. */
  maxStreamsPerUser: number;
}

/** The host id when CHATD_WORKSPACE_HOST_ID is unset: the machine's hostname, made queue-safe. */
export function defaultWorkspaceHostId(name: string = hostname()): string {
  const safe = name
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 100);
  return safe || 'localhost';
}

/** Thrown when the environment is invalid; `message` lists every bad variable at once. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment. Throws ConfigError naming every invalid variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const webPush = webPushConfig(e);
  const temporalTlsConfig = temporalTls(e);
  return Object.freeze({
    http: { host: e.CHATD_HTTP_HOST, port: e.CHATD_HTTP_PORT, drainMs: e.CHATD_DRAIN_SECONDS * 1000 },
    metricsToken: e.CHATD_METRICS_TOKEN,
    workerHttpPort: e.CHATD_WORKER_HTTP_PORT,
    databaseUrl: e.DATABASE_URL,
    dbPoolSize: e.CHATD_DB_POOL_SIZE,
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.CHATD_TASK_QUEUE,
      tls: temporalTlsConfig,
      apiKey: e.TEMPORAL_API_KEY,
    },
    corsOrigins: e.CHATD_CORS_ORIGINS,
    workerMaxActivities: e.CHATD_WORKER_MAX_ACTIVITIES,
    dataDir: e.CHATD_DATA_DIR,
    bootstrapAdminToken: e.CHATD_BOOTSTRAP_ADMIN_TOKEN,
    encryptionKeys: e.CHATD_ENCRYPTION_KEYS,
    streamBus: e.CHATD_STREAM_BUS,
    logLevel: e.CHATD_LOG_LEVEL,
    maxSteps: e.CHATD_MAX_STEPS,
    toolApprovalTimeoutMs: e.CHATD_TOOL_APPROVAL_TIMEOUT * 1000,
    maxRunningTurnsPerUser: e.CHATD_MAX_RUNNING_TURNS_PER_USER,
    maxMessageBytes: e.CHATD_MAX_MESSAGE_BYTES,
    usageCacheMs: e.CHATD_USAGE_CACHE_SECONDS * 1000,
    defaultModel: e.CHATD_DEFAULT_MODEL,
    presets: {
      openai: { apiKey: e.OPENAI_API_KEY, baseUrl: e.OPENAI_BASE_URL },
      anthropic: { apiKey: e.ANTHROPIC_API_KEY, baseUrl: e.ANTHROPIC_BASE_URL },
    },
    dev: {
      temporalCliPath: e.TEMPORAL_CLI_PATH,
      temporalPort: e.CHATD_TEMPORAL_PORT,
      temporalUiPort: e.CHATD_TEMPORAL_UI_PORT,
    },
    workspaceHost: {
      id: e.CHATD_WORKSPACE_HOST_ID ?? defaultWorkspaceHostId(),
      pickupTimeoutSeconds: e.CHATD_WORKSPACE_HOST_TIMEOUT,
      servedByWorker: e.CHATD_WORKER_SERVE_WORKSPACES,
    },
    earlyFirstStep: e.CHATD_EARLY_FIRST_STEP,
    sandbox: {
      mode: e.CHATD_WORKSPACE_SANDBOX,
      network: e.CHATD_WORKSPACE_NETWORK,
      limits: {
        processes: e.CHATD_WORKSPACE_MAX_PROCESSES,
        memoryMb: e.CHATD_WORKSPACE_MAX_MEMORY_MB,
        fileSizeMb: e.CHATD_WORKSPACE_MAX_FILE_MB,
        cpuSeconds: e.CHATD_WORKSPACE_CPU_SECONDS,
        workspaceMemoryMb: e.CHATD_WORKSPACE_MEMORY_MB,
        cpus: e.CHATD_WORKSPACE_CPUS,
      },
      cgroup: e.CHATD_WORKSPACE_CGROUP,
      idleMinutes: e.CHATD_WORKSPACE_IDLE_MINUTES,
      uidBase: e.CHATD_WORKSPACE_UID_BASE,
    },
    publicUrl: e.CHATD_PUBLIC_URL?.replace(/\/+$/, ''),
    webDir: e.CHATD_WEB_DIR,
    mcp: {
      connectTimeoutMs: e.CHATD_MCP_CONNECT_TIMEOUT * 1000,
      callTimeoutMs: e.CHATD_MCP_CALL_TIMEOUT * 1000,
      toolsTtlMs: e.CHATD_MCP_TOOLS_TTL * 1000,
    },
    requestLimits: {
      requestsPerWindow: e.CHATD_RATE_LIMIT_REQUESTS,
      windowSeconds: e.CHATD_RATE_LIMIT_WINDOW,
      authFailures: e.CHATD_RATE_LIMIT_AUTH_FAILURES,
      authWindowSeconds: e.CHATD_RATE_LIMIT_AUTH_WINDOW,
      proxyHops: e.CHATD_RATE_LIMIT_PROXY_HOPS,
      maxStreamsPerUser: e.CHATD_MAX_STREAMS_PER_USER,
    },
    webPush,
  });
}

/** True for a bare http(s) origin: scheme, host and optional port, no path, query or trailing slash. */
function isOrigin(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === value;
  } catch {
    return false;
  }
}

/**
 * Temporal TLS, checked together: any TLS setting or an API key turns TLS on (Temporal Cloud requires
 * it with API keys) unless TEMPORAL_TLS says otherwise; a client certificate needs its key and the
 * other way round; TEMPORAL_TLS=false with certificate settings is a contradiction. Throws ConfigError.
 */
function temporalTls(e: RawConfig): Config['temporal']['tls'] {
  const issues: string[] = [];
  if (Boolean(e.TEMPORAL_TLS_CERT) !== Boolean(e.TEMPORAL_TLS_KEY))
    issues.push('TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY: set both (the client certificate and its key) or neither');
  const certSettings = Boolean(
    e.TEMPORAL_TLS_CERT || e.TEMPORAL_TLS_KEY || e.TEMPORAL_TLS_CA || e.TEMPORAL_TLS_SERVER_NAME,
  );
  if (e.TEMPORAL_TLS === false && certSettings)
    issues.push('TEMPORAL_TLS: is false, but TEMPORAL_TLS_CERT/KEY/CA/SERVER_NAME are set; unset them or enable TLS');
  if (issues.length > 0) throw new ConfigError(issues);
  const enabled = e.TEMPORAL_TLS ?? (certSettings || Boolean(e.TEMPORAL_API_KEY));
  if (!enabled) return false;
  return {
    clientCertPath: e.TEMPORAL_TLS_CERT,
    clientKeyPath: e.TEMPORAL_TLS_KEY,
    caPath: e.TEMPORAL_TLS_CA,
    serverName: e.TEMPORAL_TLS_SERVER_NAME,
  };
}

/**
 * The VAPID settings, checked together: both keys or neither, a subject whenever keys are set (push
 * services require a contact), and keys that belong to one pair. Throws ConfigError.
 */
function webPushConfig(e: RawConfig): Config['webPush'] {
  const publicKey = e.CHATD_VAPID_PUBLIC_KEY;
  const privateKey = e.CHATD_VAPID_PRIVATE_KEY;
  const subject = e.CHATD_VAPID_SUBJECT;
  if (!publicKey && !privateKey) return { keys: undefined, subject };
  const issues: string[] = [];
  if (!publicKey || !privateKey)
    issues.push('CHATD_VAPID_PUBLIC_KEY, CHATD_VAPID_PRIVATE_KEY: set both keys of the pair, or neither');
  else if (!isVapidKeyPair({ publicKey, privateKey }))
    issues.push('CHATD_VAPID_PRIVATE_KEY: is not the private key of CHATD_VAPID_PUBLIC_KEY');
  if (!subject) issues.push('CHATD_VAPID_SUBJECT: required with VAPID keys (a mailto: address or an https: URL)');
  if (issues.length > 0) throw new ConfigError(issues);
  return { keys: { publicKey: publicKey!, privateKey: privateKey! }, subject };
}

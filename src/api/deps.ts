/** What the HTTP API is built from: injected by src/main (and by tests), shared by createApp and every router. */
import type { TurnLauncher } from '../chat/turn-launcher';
import type { SandboxStatus } from '../workspaces/local.provider';
import type { StreamBus } from '../stream/bus';
import type { SecretBox } from '../security/secrets';
import type { Database } from '../db/database';
import type { RequestLimits } from '../config';
import type { SpendCheck } from '../usage/spend-check';
import type { Logger } from 'pino';
import type { Kysely } from 'kysely';
import type { ChatdMetrics } from '../metrics/chatd-metrics';
import type { Tracer } from '@opentelemetry/api';

export interface AppDeps {
  db: Kysely<Database>;
  bus: StreamBus;
  turns: TurnLauncher;
  secrets: SecretBox;
  log: Logger;
  /**
   * Largest message text in UTF-8 bytes (CHATD_MAX_MESSAGE_BYTES), summed over a message's text parts and
   * checked exactly; a JSON body may exceed it by 64 KiB for the other fields and quoting.
   */
  maxMessageBytes: number;
  /** Rate limits, the auth-failure throttle and the stream cap of this process (CHATD_RATE_LIMIT_*); unset: none. */
  requestLimits?: RequestLimits;
  sseHeartbeatMs?: number;
  /** Unsent SSE bytes per client above which a slow reader is disconnected (default 1 MiB). */
  sseMaxBufferedBytes?: number;
  /** The spend limit check of this process (src/usage/spend-check.ts); limit writes here make it forget. */
  usage?: SpendCheck;
  checkTemporal: () => Promise<void>;
  onModelConfigChange: () => void;
  /** Whether workspace commands of this process are sandboxed (readiness reports it, never fails on it). */
  workspaceSandbox?: () => Promise<SandboxStatus>;
  /** The VAPID public key browsers subscribe to web push with; unset: web push is off (501 `push_disabled`). */
  vapidPublicKey?: string;
  /** CHATD_PUBLIC_URL: the base of OAuth redirect URIs; unset: the origin of the request that starts the flow. */
  publicUrl?: string;
  /** CHATD_CORS_ORIGINS: browser origins that get CORS headers; unset or empty: no CORS headers. */
  corsOrigins?: readonly string[];
  /** The tracer of the HTTP server spans when tracing is on (README "Traces"); unset: no spans. */
  tracer?: Tracer;
  /** This process's metrics: request metrics, the open-streams gauge and GET /metrics; unset: none. */
  metrics?: ChatdMetrics;
  /** CHATD_METRICS_TOKEN: the bearer token GET /metrics requires; unset: public. */
  metricsToken?: string;
  /** The playground's built files, served at `/` (src/api/web-app.ts); unset: not served. */
  webDir?: string | null;
  /** True once the process is shutting down: /readyz answers 503 `draining` (README "Health"). */
  draining?: () => boolean;
}

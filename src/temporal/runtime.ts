/**
 * The Temporal SDK's process-wide Runtime, installed once by each entry point (src/main/cli.ts,
 * src/main/dev.ts) before any worker or native connection exists. Its logs, the SDK's own (worker
 * lifecycle, workflow and activity context loggers) and those of its native core, go through chatd's
 * JSON logger; with `metrics`, the SDK's Prometheus exporter listens on a free loopback port, and
 * `/metrics` appends what it serves (README "Operations").
 */
import { createServer } from 'node:net';
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { makeTelemetryFilterString, Runtime } from '@temporalio/worker';
import type { Logger } from 'pino';

export interface TemporalRuntimeOptions {
  /** Start the SDK's Prometheus exporter (worker processes); default false. */
  metrics?: boolean;
}

export interface TemporalRuntime {
  /** Where the SDK's metrics are served (loopback), when `metrics` was asked for. */
  metricsUrl: string | null;
}

const PINO_LEVEL = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
} as const satisfies Record<LogLevel, string>;

/**
 * The SDK's Logger interface on a pino logger: the SDK's metadata (sdkComponent, taskQueue, workflowId,
 * activityType…) become fields, an `error` is logged as pino's `err`, the SDK's timestamp symbol is dropped.
 */
export class PinoTemporalLogger implements TemporalLogger {
  constructor(private readonly pino: Logger) {}

  log(level: LogLevel, message: string, meta?: LogMetadata): void {
    const fields: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(meta ?? {})) {
      if (key === 'error' && value instanceof Error) fields.err = value;
      else if (typeof value === 'bigint') fields[key] = value.toString();
      else if (!(key === 'spanContexts' && Array.isArray(value) && value.length === 0)) fields[key] = value;
    }
    this.pino[PINO_LEVEL[level] ?? 'info'](fields, message);
  }

  trace(message: string, meta?: LogMetadata): void {
    this.log('TRACE', message, meta);
  }

  debug(message: string, meta?: LogMetadata): void {
    this.log('DEBUG', message, meta);
  }

  info(message: string, meta?: LogMetadata): void {
    this.log('INFO', message, meta);
  }

  warn(message: string, meta?: LogMetadata): void {
    this.log('WARN', message, meta);
  }

  error(message: string, meta?: LogMetadata): void {
    this.log('ERROR', message, meta);
  }
}

/**
 * What the native core logs, from chatd's log level: its INFO lines are chatter, so `info` keeps WARN
 * and up; `debug` and `trace` open it up.
 */
export function coreLogLevel(level: string): LogLevel {
  if (level === 'trace') return 'TRACE';
  if (level === 'debug') return 'DEBUG';
  if (level === 'error' || level === 'fatal' || level === 'silent') return 'ERROR';
  return 'WARN';
}

/** A port on 127.0.0.1 that was free a moment ago (the SDK's exporter takes it right away). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Installs the Runtime (once per process: a second call throws the SDK's IllegalStateError). */
export async function installTemporalRuntime(
  log: Logger,
  options: TemporalRuntimeOptions = {},
): Promise<TemporalRuntime> {
  const bindAddress = options.metrics ? `127.0.0.1:${await freeLoopbackPort()}` : null;
  const sdkLog = log.child({ component: 'temporal' });
  Runtime.install({
    logger: new PinoTemporalLogger(sdkLog),
    telemetryOptions: {
      logging: {
        filter: makeTelemetryFilterString({ core: coreLogLevel(sdkLog.level), other: 'ERROR' }),
        forward: {},
      },
      ...(bindAddress ? { metrics: { prometheus: { bindAddress } } } : {}),
    },
  });
  return { metricsUrl: bindAddress ? `http://${bindAddress}/metrics` : null };
}

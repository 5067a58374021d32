/**
 * Tracing settings from the standard OpenTelemetry environment variables (README "Traces").
 * Tracing is off unless asked for: `OTEL_TRACES_EXPORTER=otlp` (and/or `console`), or an OTLP
 * endpoint with OTEL_TRACES_EXPORTER unset. `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`
 * keep it off whatever else is set. The OTLP exporter reads its own variables (endpoint, headers,
 * timeout, compression) and the resource reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
 */
import { ConfigError } from '../config';

export type TraceExporterName = 'otlp' | 'console';

export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';

export interface TracingSettings {
  exporters: TraceExporterName[];
  sampler: SamplerName;
  /** The ratio of the `traceidratio` samplers, 0 to 1. */
  ratio: number;
}

const EXPORTERS: readonly string[] = ['otlp', 'console', 'none'];
const SAMPLERS: readonly string[] = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
];
/** What exporter-trace-otlp-http speaks; collectors take JSON wherever they take http/protobuf. */
const HTTP_PROTOCOLS: readonly string[] = ['http/json', 'http/protobuf'];

type Env = Record<string, string | undefined>;

const value = (env: Env, name: string): string | undefined => env[name]?.trim() || undefined;

/** The settings, or null when tracing is off. Throws ConfigError naming every invalid variable. */
export function tracingSettings(env: Env): TracingSettings | null {
  if (value(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return null;
  const issues: string[] = [];
  const listed = value(env, 'OTEL_TRACES_EXPORTER')
    ?.split(',')
    .map((name) => name.trim().toLowerCase())
    .filter(Boolean);
  for (const name of listed ?? []) {
    if (!EXPORTERS.includes(name)) issues.push(`OTEL_TRACES_EXPORTER: '${name}' is not one of otlp, console, none`);
  }
  const endpoint = value(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? value(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const names = listed ?? (endpoint ? ['otlp'] : []);
  const exporters = [...new Set(names.filter((n): n is TraceExporterName => n === 'otlp' || n === 'console'))];

  for (const name of ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const protocol = value(env, name);
    if (protocol && !HTTP_PROTOCOLS.includes(protocol)) {
      issues.push(`${name}: '${protocol}' is not supported (chatd sends OTLP over HTTP: http/json or http/protobuf)`);
    }
  }
  const sampler = value(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase() ?? 'parentbased_always_on';
  if (!SAMPLERS.includes(sampler))
    issues.push(`OTEL_TRACES_SAMPLER: '${sampler}' is not one of ${SAMPLERS.join(', ')}`);
  const arg = value(env, 'OTEL_TRACES_SAMPLER_ARG');
  const ratio = arg === undefined ? 1 : Number(arg);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) issues.push('OTEL_TRACES_SAMPLER_ARG: a number from 0 to 1');
  if (issues.length) throw new ConfigError(issues);
  if (exporters.length === 0) return null;
  return { exporters, sampler: sampler as SamplerName, ratio };
}

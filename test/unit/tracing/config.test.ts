/** When the OTEL_* variables turn tracing on, and which values are refused (README "Traces"). */
import { ConfigError } from '../../../src/config';
import { trace } from '@opentelemetry/api';
import { workflowInterceptorModules } from '../../../src/temporal/create-worker';
import { tracingSettings } from '../../../src/tracing/config';
import { tracingFromEnv } from '../../../src/tracing/tracing';

describe('tracing settings', () => {
  it('is off by default, with `none`, and with OTEL_SDK_DISABLED', () => {
    expect(tracingSettings({})).toBeNull();
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'none' })).toBeNull();
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).toBeNull();
    expect(tracingSettings({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' })).toBeNull();
  });

  it('starts nothing when off: no tracer provider, no workflow interceptor modules', () => {
    expect(tracingFromEnv({ OTEL_TRACES_EXPORTER: 'none' }, 'chatd-test')).toBeNull();
    expect(trace.getTracer('chatd').startSpan('x').isRecording()).toBe(false);
    expect(workflowInterceptorModules(undefined)).toEqual([]);
  });

  it('is on with an exporter named, or an OTLP endpoint and no exporter named', () => {
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp' })).toEqual({
      exporters: ['otlp'],
      sampler: 'parentbased_always_on',
      ratio: 1,
    });
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'console, otlp' })?.exporters).toEqual(['console', 'otlp']);
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })?.exporters).toEqual([
      'otlp',
    ]);
    expect(
      tracingSettings({
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_TRACES_SAMPLER: 'traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
      }),
    ).toMatchObject({ sampler: 'traceidratio', ratio: 0.25 });
  });

  it('names every invalid variable at once', () => {
    let error: unknown;
    try {
      tracingSettings({
        OTEL_TRACES_EXPORTER: 'zipkin',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_TRACES_SAMPLER: 'sometimes',
        OTEL_TRACES_SAMPLER_ARG: '2',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues.map((i) => i.split(':')[0]);
    expect(issues).toEqual([
      'OTEL_TRACES_EXPORTER',
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'OTEL_TRACES_SAMPLER',
      'OTEL_TRACES_SAMPLER_ARG',
    ]);
  });
});

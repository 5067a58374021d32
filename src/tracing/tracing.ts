/**
 * The process's OpenTelemetry tracing (README "Traces"): a tracer provider with the configured
 * exporters, registered as the global provider together with the async-hooks context manager and
 * the W3C trace-context propagator (Temporal's interceptors and the HTTP span use them). Started once
 * per process in src/main/* when the OTEL_* variables ask for it (config.ts here); with tracing off
 * nothing is registered and no span is ever created.
 */
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
  type Resource,
} from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type ReadableSpan,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { VERSION } from '../version';
import { tracingSettings, type TracingSettings } from './config';

/** The name chatd's own spans are created under (HTTP, model calls, tool calls, queries). */
export const TRACER_NAME = 'chatd';

export interface Tracing {
  readonly tracer: Tracer;
  /** Where ended spans go; the worker hands the spans of its workflows to it too (temporal.ts). */
  readonly processor: SpanProcessor;
  readonly resource: Resource;
  /** Exports what is buffered and unregisters the globals. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** `service.name` unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) names one. */
  serviceName: string;
  processors: SpanProcessor[];
  sampler?: Sampler;
}

/** Starts tracing with the given span processors (tests pass an in-memory exporter's). */
export function startTracing(options: TracingOptions): Tracing {
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': options.serviceName, 'service.version': VERSION }))
    .merge(detectResources({ detectors: [envDetector] }));
  const processor = fanOut(options.processors);
  const provider = new TracerProvider({
    resource,
    spanProcessors: [processor],
    ...(options.sampler ? { sampler: options.sampler } : {}),
  });
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(
    new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
  );
  return {
    tracer: provider.getTracer(TRACER_NAME, VERSION),
    processor,
    resource,
    async shutdown() {
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}

/**
 * Tracing as the OTEL_* variables configure it, or null when they leave it off (config.ts).
 * `serviceName` is the default `service.name` (`chatd-api`, `chatd-worker`…).
 */
export function tracingFromEnv(env: Record<string, string | undefined>, serviceName: string): Tracing | null {
  const settings = tracingSettings(env);
  if (!settings) return null;
  const processors = settings.exporters.map((name) =>
    name === 'otlp'
      ? new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })
      : new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() }),
  );
  return startTracing({ serviceName, processors, sampler: samplerFor(settings) });
}

function samplerFor(settings: TracingSettings): Sampler {
  const ratio = new TraceIdRatioBasedSampler(settings.ratio);
  switch (settings.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/** One processor over several (one per exporter). */
function fanOut(processors: SpanProcessor[]): SpanProcessor {
  if (processors.length === 1) return processors[0]!;
  return {
    onStart: (span, parent) => processors.forEach((p) => p.onStart(span, parent)),
    onEnd: (span: ReadableSpan) => processors.forEach((p) => p.onEnd(span)),
    forceFlush: async () => {
      await Promise.all(processors.map((p) => p.forceFlush()));
    },
    shutdown: async () => {
      await Promise.all(processors.map((p) => p.shutdown()));
    },
  };
}

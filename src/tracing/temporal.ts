/**
 * Temporal's OpenTelemetry interceptors (@temporalio/interceptors-opentelemetry) wired to chatd's
 * tracing: the client interceptor puts the trace context into the headers of the workflows the API
 * starts, the workflow interceptor module (bundled into the sandbox) traces the run and passes the
 * context on to its activities, and the activity interceptor continues it in the worker. The
 * workflow's spans leave the sandbox through the `exporter` sink (`workflowSpanSinks`). Only used
 * when tracing is on: a worker without tracing has none of this (README "Traces").
 */
import { createTraceState, type SpanContext } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  type OpenTelemetrySinks,
  type SerializableSpan,
} from '@temporalio/interceptors-opentelemetry';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { Tracing } from './tracing';

/**
 * The workflow interceptor module a traced worker bundles its workflows with. A prebuilt bundle
 * (WorkerOptions.workflowBundle) ignores the worker's modules: build it with these
 * (`bundleWorkflowCode({ workflowInterceptorModules })`) to trace its workflows.
 */
export const TRACING_WORKFLOW_MODULES: readonly string[] = [
  require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
];

/** The client interceptor: StartWorkflow / SignalWithStartWorkflow / SignalWorkflow spans, context in headers. */
export function tracingClientInterceptor(tracing: Tracing): WorkflowClientInterceptor {
  return new OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer });
}

/** The activity interceptors: a RunActivity:<name> span per attempt, child of the workflow's StartActivity. */
export function tracingActivityInterceptors(tracing: Tracing): ActivityInterceptorsFactory {
  return (ctx) => ({
    inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer: tracing.tracer }),
    outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
  });
}

/**
 * The `exporter` sink the workflow interceptors send their ended spans to. The interceptors of
 * this SDK release build their spans with OpenTelemetry's 1.x SDK inside the sandbox (parent as
 * `parentSpanId`, scope as `instrumentationLibrary`); they are turned into spans of the SDK chatd
 * runs before they reach its processor. Not called during replay.
 */
export function workflowSpanSinks(tracing: Tracing): InjectedSinks<OpenTelemetrySinks> {
  return {
    exporter: {
      export: {
        fn: (info, spans) => {
          for (const span of spans) {
            tracing.processor.onEnd(
              toReadableSpan(span, tracing.resource, {
                // The keys the interceptors' activity spans use.
                temporalWorkflowId: info.workflowId,
                run_id: info.runId,
              }),
            );
          }
        },
      },
    },
  };
}

/** A workflow span as chatd's span processor takes it. */
export function toReadableSpan(
  span: SerializableSpan,
  resource: Resource,
  extra: Record<string, string>,
): ReadableSpan {
  const { traceState, ...ids } = span.spanContext;
  const spanContext: SpanContext = { ...ids, ...(traceState ? { traceState: createTraceState(traceState) } : {}) };
  return {
    name: span.name,
    kind: span.kind,
    spanContext: () => spanContext,
    ...(span.parentSpanId
      ? { parentSpanContext: { traceId: ids.traceId, spanId: span.parentSpanId, traceFlags: ids.traceFlags } }
      : {}),
    startTime: span.startTime,
    endTime: span.endTime,
    status: span.status,
    attributes: { ...span.attributes, ...extra },
    links: span.links,
    events: span.events,
    duration: span.duration,
    ended: span.ended,
    resource,
    instrumentationScope: span.instrumentationLibrary,
    droppedAttributesCount: span.droppedAttributesCount,
    droppedEventsCount: span.droppedEventsCount,
    droppedLinksCount: span.droppedLinksCount,
  };
}

import { ROOT_CONTEXT, trace, type Context, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { REQUEST_ID_KEY, activeContext, activeRequestId } from './context';

export interface TracingOptions {
  /** `service.name` of every span: 'backend' or the service's name. */
  serviceName: string;
  /**
   * OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://otel-collector:4318); spans go
   * to `<endpoint>/v1/traces` in batches. Without it nothing is exported, but spans are still
   * made so trace ids reach logs and other services.
   */
  otlpEndpoint?: string;
  /** Tests: export every span synchronously here (e.g. an InMemorySpanExporter). */
  exporter?: SpanExporter;
}

export interface Tracing {
  readonly tracer: Tracer;
  readonly provider: BasicTracerProvider;
  /** Exports what is buffered and stops; call at shutdown. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();

/** A tracer provider for this process, not registered globally (two in one test worker stay apart). */
export function createTracing(options: TracingOptions): Tracing {
  const spanProcessors: SpanProcessor[] = [];
  if (options.exporter) spanProcessors.push(new SimpleSpanProcessor(options.exporter));
  if (options.otlpEndpoint) {
    const url = `${options.otlpEndpoint.replace(/\/+$/, '')}/v1/traces`;
    spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url })));
  }
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors,
  });
  const tracer = provider.getTracer('@kfrm/observability');
  return {
    tracer,
    provider,
    shutdown: () => provider.shutdown(),
  };
}

/** Reads a header from gRPC metadata, a plain record, or anything with `get(key): unknown[]`. */
export interface HeaderSource {
  get(key: string): unknown[];
}

/** The remote parent a caller sent in `traceparent`/`tracestate`, or the root context. */
export function extractTraceContext(headers: HeaderSource, base: Context = ROOT_CONTEXT): Context {
  return propagator.extract(base, headers, {
    get(carrier, key) {
      const value = carrier.get(key)[0];
      return typeof value === 'string' ? value : undefined;
    },
    keys: () => ['traceparent', 'tracestate'],
  });
}

/**
 * Headers an outgoing internal call carries so the callee continues this trace and logs this
 * request id: `traceparent` (and `tracestate`) of the active span, and `x-request-id`.
 */
export function outgoingHeaders(ctx: Context = activeContext()): Record<string, string> {
  const headers: Record<string, string> = {};
  propagator.inject(ctx, headers, {
    set(carrier, key, value) {
      carrier[key] = value;
    },
  });
  const requestId = ctx.getValue(REQUEST_ID_KEY);
  if (typeof requestId === 'string') headers['x-request-id'] = requestId;
  return headers;
}

/** trace_id and span_id of the active span, for log lines written outside a call's logger. */
export function activeTraceFields(): { trace_id?: string; span_id?: string; request_id?: string } {
  const span = trace.getSpan(activeContext());
  const ids = span?.spanContext();
  const requestId = activeRequestId();
  return {
    ...(ids && trace.isSpanContextValid(ids) ? { trace_id: ids.traceId, span_id: ids.spanId } : {}),
    ...(requestId ? { request_id: requestId } : {}),
  };
}

// Tests hand an in-memory exporter to a process; re-exported so they need no SDK dependency.
export { InMemorySpanExporter, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

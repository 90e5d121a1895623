import { type Context, type Span, SpanKind, SpanStatusCode, trace, ROOT_CONTEXT } from '@opentelemetry/api';
import { REQUEST_ID_KEY, RequestIdContext, withContext } from './context';
import type { KfrmMetrics } from './metrics';
import { extractTraceContext, type HeaderSource, type Tracing } from './tracing';

/** What the server kit tells an observer about a call (structurally the server kit's CallObserver). */
export interface ObservedCall {
  /** The method's definition path, /pkg.Service/Method: static, so labels stay bounded. */
  path: string;
  requestId: string;
  metadata: HeaderSource;
}

export interface ObservedCallScope {
  /** Added to the call's logger beside request_id. */
  logFields: Record<string, string>;
  /** Runs the call's work with its span (and request id) as the active context. */
  run<T>(fn: () => T): T;
  /**
   * A server stream is open (access granted, its handler about to run). A stream lives for
   * hours: its span ends here, covering the opening, and what `run` runs from now on carries the
   * request id only, so neither the span nor its context is kept for the stream's life (≈ 1.8 KB
   * per idle stream, bench/fanout.ts). Logs keep the span's ids (`logFields`); `end` still counts
   * the stream's status and duration in the metrics.
   */
  streamOpened(): void;
  /** Once, with the gRPC status the call ended with. */
  end(code: number, codeName: string): void;
}

export interface GrpcServerObserverOptions {
  /** 'mobile' or 'internal'. */
  listener: string;
  metrics?: KfrmMetrics;
  tracing?: Tracing;
  /**
   * Continue the caller's trace from `traceparent`. On for the internal listener (our own
   * services); off for the mobile one, where the header would come from a phone and must not
   * steer our trace ids or sampling.
   */
  trustIncomingTraceContext: boolean;
}

// Per the OpenTelemetry RPC conventions, only these codes make a server span an error; the rest
// (NOT_FOUND, INVALID_ARGUMENT, …) are the client's business.
const SERVER_ERROR_CODES = new Set([2, 4, 12, 13, 14, 15]); // UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS

export function splitMethodPath(path: string): { service: string; method: string } {
  const [, service = 'unknown', method = 'unknown'] = path.split('/');
  return { service, method };
}

/** Method paths are static (one per registered method): split once each, not per call. */
const splitPaths = new Map<string, { service: string; method: string }>();
const MAX_SPLIT_PATHS = 4096;

function methodOf(path: string): { service: string; method: string } {
  let parts = splitPaths.get(path);
  if (!parts) {
    parts = splitMethodPath(path);
    // Unknown paths (a client calling methods that do not exist) must not grow it without bound.
    if (splitPaths.size < MAX_SPLIT_PATHS) splitPaths.set(path, parts);
  }
  return parts;
}

/** One call's metrics and server span. A class: a stream keeps it for its whole life. */
class ObservedServerCall implements ObservedCallScope {
  readonly logFields: Record<string, string>;
  private readonly started = performance.now();
  private readonly names: { service: string; method: string };
  private span: Span | undefined;
  private context: Context;
  private ended = false;

  constructor(
    private readonly options: GrpcServerObserverOptions,
    call: ObservedCall,
  ) {
    const { metrics, tracing, listener } = options;
    const names = methodOf(call.path);
    this.names = names;
    metrics?.grpcStarted.inc({ listener, service: names.service, method: names.method });
    const parent = options.trustIncomingTraceContext ? extractTraceContext(call.metadata) : ROOT_CONTEXT;
    const span = tracing?.tracer.startSpan(
      `${names.service}/${names.method}`,
      {
        kind: SpanKind.SERVER,
        attributes: { 'rpc.system': 'grpc', 'rpc.service': names.service, 'rpc.method': names.method, 'kfrm.listener': listener },
      },
      parent,
    );
    this.span = span;
    this.context = (span ? trace.setSpan(parent, span) : parent).setValue(REQUEST_ID_KEY, call.requestId);
    const ids = span?.spanContext();
    this.logFields = ids ? { trace_id: ids.traceId, span_id: ids.spanId } : {};
  }

  run<T>(fn: () => T): T {
    return withContext(this.context, fn);
  }

  streamOpened(): void {
    const span = this.span;
    if (!span) return;
    this.span = undefined;
    span.setAttribute('kfrm.stream', 'opened');
    span.end();
    this.context = new RequestIdContext(this.context.getValue(REQUEST_ID_KEY));
  }

  end(code: number, codeName: string): void {
    if (this.ended) return;
    this.ended = true;
    const { metrics, listener } = this.options;
    const { service, method } = this.names;
    const seconds = (performance.now() - this.started) / 1e3;
    metrics?.grpcHandled.inc({ listener, service, method, code: codeName });
    metrics?.grpcHandlingSeconds.observe({ listener, service, method }, seconds);
    const span = this.span;
    if (span) {
      this.span = undefined;
      span.setAttribute('rpc.grpc.status_code', code);
      if (SERVER_ERROR_CODES.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: codeName });
      span.end();
    }
  }
}

/** Metrics and a server span for every call a GrpcListener serves. */
export function createGrpcServerObserver(options: GrpcServerObserverOptions) {
  return {
    start(call: ObservedCall): ObservedCallScope {
      return new ObservedServerCall(options, call);
    },
  };
}

export type GrpcServerObserver = ReturnType<typeof createGrpcServerObserver>;

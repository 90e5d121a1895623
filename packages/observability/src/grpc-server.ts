import { SpanKind, SpanStatusCode, trace, ROOT_CONTEXT } from '@opentelemetry/api';
import { REQUEST_ID_KEY, withContext } from './context';
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

/** Metrics and a server span for every call a GrpcListener serves. */
export function createGrpcServerObserver(options: GrpcServerObserverOptions) {
  const { listener, metrics, tracing } = options;
  return {
    start(call: ObservedCall): ObservedCallScope {
      const started = process.hrtime.bigint();
      const { service, method } = splitMethodPath(call.path);
      metrics?.grpcStarted.inc({ listener, service, method });
      const parent = options.trustIncomingTraceContext ? extractTraceContext(call.metadata) : ROOT_CONTEXT;
      const span = tracing?.tracer.startSpan(
        `${service}/${method}`,
        {
          kind: SpanKind.SERVER,
          attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method, 'kfrm.listener': listener },
        },
        parent,
      );
      const ctx = (span ? trace.setSpan(parent, span) : parent).setValue(REQUEST_ID_KEY, call.requestId);
      const ids = span?.spanContext();
      const logFields: Record<string, string> = ids ? { trace_id: ids.traceId, span_id: ids.spanId } : {};
      let ended = false;
      return {
        logFields,
        run: (fn) => withContext(ctx, fn),
        end(code, codeName) {
          if (ended) return;
          ended = true;
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          metrics?.grpcHandled.inc({ listener, service, method, code: codeName });
          metrics?.grpcHandlingSeconds.observe({ listener, service, method }, seconds);
          if (span) {
            span.setAttribute('rpc.grpc.status_code', code);
            if (SERVER_ERROR_CODES.has(code)) span.setStatus({ code: SpanStatusCode.ERROR, message: codeName });
            span.end();
          }
        },
      };
    },
  };
}

export type GrpcServerObserver = ReturnType<typeof createGrpcServerObserver>;

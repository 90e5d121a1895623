import { context, createContextKey, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { activeRequestId, REQUEST_ID_KEY, RequestIdContext } from './context';
import { createGrpcServerObserver } from './grpc-server';
import { createMetrics } from './metrics';
import { createTracing, InMemorySpanExporter } from './tracing';

const metadata = { get: () => [] };
const OTHER_KEY = createContextKey('test.other');

function observed() {
  const exporter = new InMemorySpanExporter();
  const metrics = createMetrics({ defaultMetrics: false });
  const tracing = createTracing({ serviceName: 'test', exporter });
  const observer = createGrpcServerObserver({ listener: 'mobile', metrics, tracing, trustIncomingTraceContext: false });
  return { exporter, metrics, observer };
}

describe('createGrpcServerObserver', () => {
  it("ends a unary call's span with its status, and runs its work with the span and the request id", async () => {
    const { exporter, metrics, observer } = observed();
    const call = observer.start({ path: '/kfrm.api.Test/Read', requestId: 'req-1', metadata });
    const seen = call.run(() => ({ span: trace.getActiveSpan()?.spanContext().spanId, requestId: activeRequestId() }));
    expect(seen).toEqual({ span: call.logFields.span_id, requestId: 'req-1' });
    call.end(5, 'NOT_FOUND');
    call.end(5, 'NOT_FOUND');
    const [span] = exporter.getFinishedSpans();
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    expect(span!.attributes['rpc.grpc.status_code']).toBe(5);
    expect(await metrics.text()).toContain(
      'kfrm_grpc_server_handled_total{listener="mobile",service="kfrm.api.Test",method="Read",code="NOT_FOUND"} 1',
    );
  });

  it("ends a stream's span when it opens and lets go of it; the stream's end still counts in the metrics", async () => {
    const { exporter, metrics, observer } = observed();
    const call = observer.start({ path: '/kfrm.api.Test/Subscribe', requestId: 'req-2', metadata });
    const traceId = call.logFields.trace_id;
    call.streamOpened();
    const [span] = exporter.getFinishedSpans();
    expect(span!.attributes['kfrm.stream']).toBe('opened');
    expect(span!.spanContext().traceId).toBe(traceId);
    // The stream's work from now on: the request id still flows, no span is kept active.
    expect(call.run(() => ({ span: trace.getActiveSpan(), requestId: activeRequestId() }))).toEqual({
      span: undefined,
      requestId: 'req-2',
    });
    // A stream is open for hours: its context is the request id alone, not a map and three closures.
    expect(call.run(() => context.active())).toBeInstanceOf(RequestIdContext);
    // Work started in the stream's context may still add to it (a child span, a value of its own).
    const child = call.run(() => {
      const added = context.active().setValue(OTHER_KEY, 'x');
      return {
        requestId: added.getValue(REQUEST_ID_KEY),
        other: added.getValue(OTHER_KEY),
        removed: added.deleteValue(REQUEST_ID_KEY).getValue(REQUEST_ID_KEY),
      };
    });
    expect(child).toEqual({ requestId: 'req-2', other: 'x', removed: undefined });
    call.end(1, 'CANCELLED');
    expect(exporter.getFinishedSpans()).toHaveLength(1);
    expect(call.logFields.trace_id).toBe(traceId);
    expect(await metrics.text()).toContain(
      'kfrm_grpc_server_handled_total{listener="mobile",service="kfrm.api.Test",method="Subscribe",code="CANCELLED"} 1',
    );
  });
});

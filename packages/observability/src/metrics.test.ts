import { describe, expect, it } from 'vitest';
import { startMetricsEndpoint } from './http-endpoint';
import { createMetrics } from './metrics';
import { extractTraceContext, outgoingHeaders } from './tracing';
import { trace } from '@opentelemetry/api';

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('createMetrics', () => {
  it('keeps one registry per process: counts do not leak between two', async () => {
    const a = createMetrics({ defaultMetrics: false });
    const b = createMetrics({ defaultMetrics: false });
    a.storeObserver('get', 'ok', 0.001);
    expect(value(await a.text(), 'kfrm_store_operations_total{op="get",outcome="ok"}')).toBe(1);
    expect(value(await b.text(), 'kfrm_store_operations_total{op="get",outcome="ok"}')).toBeUndefined();
  });

  it('counts funding reconciliation mismatches by kind', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.fundingReconciliationMismatches.inc({ kind: 'AMOUNT_DIFFERS' });
    metrics.fundingReconciliationMismatches.inc({ kind: 'AMOUNT_DIFFERS' });
    expect(value(await metrics.text(), 'kfrm_funding_reconciliation_mismatches_total{kind="AMOUNT_DIFFERS"}')).toBe(2);
  });

  it('counts stream subscribers per service; closing twice counts once', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const first = metrics.streamSubscribers.open('notification');
    const second = metrics.streamSubscribers.open('notification');
    first();
    first();
    expect(value(await metrics.text(), 'kfrm_stream_subscribers{service="notification"}')).toBe(1);
    second();
    expect(value(await metrics.text(), 'kfrm_stream_subscribers{service="notification"}')).toBe(0);
  });

  it('counts external calls per provider, operation and outcome, with latency', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const observe = metrics.externalCallObserver('konaplate');
    observe({ operation: 'verifyAccountHolder', outcome: 'ok', seconds: 0.2 });
    observe({ operation: 'verifyAccountHolder', outcome: 'timeout', seconds: 10 });
    const text = await metrics.text();
    expect(value(text, 'kfrm_external_calls_total{provider="konaplate",operation="verifyAccountHolder",outcome="ok"}')).toBe(1);
    expect(value(text, 'kfrm_external_calls_total{provider="konaplate",operation="verifyAccountHolder",outcome="timeout"}')).toBe(1);
    expect(value(text, 'kfrm_external_call_seconds_count{provider="konaplate",operation="verifyAccountHolder"}')).toBe(2);
  });

  it('reads the database pool at scrape time, and shows nothing without one', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    expect(await metrics.text()).not.toMatch(/^kfrm_db_pool_connections\{/m);
    let waiting = 0;
    metrics.observeDbPool(() => ({ total: 4, idle: 1, waiting }));
    waiting = 3;
    const text = await metrics.text();
    expect(value(text, 'kfrm_db_pool_connections{state="total"}')).toBe(4);
    expect(value(text, 'kfrm_db_pool_connections{state="idle"}')).toBe(1);
    expect(value(text, 'kfrm_db_pool_connections{state="waiting"}')).toBe(3);
  });
});

describe('secret hashing', () => {
  it('reads the hashes running and waiting at every scrape, each limit once however often it is observed', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    expect(await metrics.text()).not.toMatch(/^kfrm_secret_hashing\{/m);
    // Auth's and casa's hashers share the process's limit; a test hasher may have its own.
    let shared = { running: 2, waiting: 5 };
    const processLimit = { load: () => shared };
    metrics.observeSecretHashing(processLimit);
    metrics.observeSecretHashing(processLimit);
    metrics.observeSecretHashing({ load: () => ({ running: 1, waiting: 0 }) });
    shared = { running: 2, waiting: 7 };
    const text = await metrics.text();
    expect(value(text, 'kfrm_secret_hashing{state="running"}')).toBe(3);
    expect(value(text, 'kfrm_secret_hashing{state="waiting"}')).toBe(7);
  });
});

describe('ledger batches', () => {
  it("records batch sizes, durations, retries and each posting's wait; reads the queue at every scrape", async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    expect(await metrics.text()).not.toMatch(/^kfrm_ledger_postings\{/m);
    let load = { queued: 0, batchesInFlight: 0 };
    metrics.observeLedgerPoster({ load: () => load });
    metrics.ledgerBatchObserver({ postings: 3, outcome: 'committed', seconds: 0.0015, attempts: 1, waitsSeconds: [0, 0.0004, 0.002] });
    metrics.ledgerBatchObserver({ postings: 1, outcome: 'failed', seconds: 0.2, attempts: 5, waitsSeconds: [0.03] });
    load = { queued: 12, batchesInFlight: 2 };
    const text = await metrics.text();
    expect(value(text, 'kfrm_ledger_postings{state="queued"}')).toBe(12);
    expect(value(text, 'kfrm_ledger_postings{state="batches_in_flight"}')).toBe(2);
    expect(value(text, 'kfrm_ledger_batch_postings_sum{outcome="committed"}')).toBe(3);
    expect(value(text, 'kfrm_ledger_batch_postings_count{outcome="failed"}')).toBe(1);
    expect(value(text, 'kfrm_ledger_batch_seconds_bucket{le="0.002",outcome="committed"}')).toBe(1);
    expect(value(text, 'kfrm_ledger_batch_seconds_bucket{le="0.1",outcome="failed"}')).toBe(0);
    expect(value(text, 'kfrm_ledger_batch_retries_total')).toBe(4);
    expect(value(text, 'kfrm_ledger_posting_wait_seconds_count')).toBe(4);
    expect(value(text, 'kfrm_ledger_posting_wait_seconds_bucket{le="0.0005"}')).toBe(2);
  });
});

describe('metrics endpoint', () => {
  it('answers GET /metrics and /healthz, refuses other methods', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    metrics.storeObserver('set', 'unavailable', 0.5);
    const endpoint = await startMetricsEndpoint({ metrics, host: '127.0.0.1', port: 0 });
    try {
      const base = `http://127.0.0.1:${endpoint.port}`;
      const scrape = await fetch(`${base}/metrics`);
      expect(scrape.headers.get('content-type')).toBe(metrics.registry.contentType);
      expect(await scrape.text()).toContain('kfrm_store_operations_total{op="set",outcome="unavailable"} 1');
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
    } finally {
      await endpoint.close();
    }
  });
});

describe('trace headers', () => {
  it('round-trips a W3C traceparent and drops a malformed one', () => {
    const headers = (record: Record<string, string>) => ({ get: (key: string) => (key in record ? [record[key]] : []) });
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const ctx = extractTraceContext(headers({ traceparent }));
    expect(trace.getSpanContext(ctx)).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      isRemote: true,
    });
    expect(outgoingHeaders(ctx)).toEqual({ traceparent });
    expect(trace.getSpanContext(extractTraceContext(headers({ traceparent: '00-zz-bad-01' })))).toBeUndefined();
  });
});

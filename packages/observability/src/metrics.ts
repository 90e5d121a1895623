import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Seconds; from sub-millisecond store reads to multi-second external calls. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Seconds; a ledger batch takes about a millisecond alone, and its linger is one by default. */
const LEDGER_BUCKETS = [0.0001, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface DbPoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** Outcome of a store operation or an external call; a fixed set, so label values stay bounded. */
export type Outcome = 'ok' | 'error' | 'unavailable';

/** What an instrumented store reports per operation (see `instrumentStore` in @kfrm/store). */
export type StoreOperationObserver = (op: string, outcome: Outcome, seconds: number) => void;

/**
 * What an external-API client reports per HTTP attempt (the `observer` option of @kfrm/konaplate
 * and @kfrm/kakaocert). `outcome` is the client's own short classification (ok, timeout,
 * http_5xx, …), never request data.
 */
export interface ExternalCallEvent {
  operation: string;
  outcome: string;
  seconds: number;
}
export type ExternalCallObserver = (event: ExternalCallEvent) => void;

/** Counts live server streams per service; `open` returns the matching, idempotent close. */
export interface StreamSubscribers {
  readonly gauge: Gauge<'service'>;
  open(service: string): () => void;
}

/**
 * One batch of the ledger's poster, committed or failed as a whole (the account service reports
 * it; see services/account/src/ledger-poster.ts). Counts and durations only, never what was posted.
 */
export interface LedgerBatchEvent {
  /** Postings in the batch. */
  postings: number;
  outcome: 'committed' | 'failed';
  /** From the batch's start to its COMMIT answered (or its failure), every attempt included. */
  seconds: number;
  /** Transaction attempts (1 unless a serialization failure, deadlock or lost claim redid it). */
  attempts: number;
  /** Each posting's wait in the queue, from its arrival to its batch's start. */
  waitsSeconds: readonly number[];
}
export type LedgerBatchObserver = (event: LedgerBatchEvent) => void;

/** What the ledger's poster holds at a scrape. */
export interface LedgerPosterLoad {
  load(): { queued: number; batchesInFlight: number };
}

/** What a limit on concurrent hashing tells (`@kfrm/credentials`' ConcurrencyLimit). */
export interface HashingLimit {
  load(): { running: number; waiting: number };
}

export interface KfrmMetrics {
  readonly registry: Registry;
  readonly grpcStarted: Counter<'listener' | 'service' | 'method'>;
  readonly grpcHandled: Counter<'listener' | 'service' | 'method' | 'code'>;
  readonly grpcHandlingSeconds: Histogram<'listener' | 'service' | 'method'>;
  readonly storeOperations: Counter<'op' | 'outcome'>;
  readonly storeOperationSeconds: Histogram<'op'>;
  readonly externalCalls: Counter<'provider' | 'operation' | 'outcome'>;
  readonly externalCallSeconds: Histogram<'provider' | 'operation'>;
  readonly streamSubscribers: StreamSubscribers;
  /** 1 while a required dependency (postgres, redis) answers this process's checks, 0 while it does not. */
  readonly dependencyUp: Gauge<'dependency'>;
  /** Disagreements the funding reconciliation found with Konaplate or the ledger, by kind. */
  readonly fundingReconciliationMismatches: Counter<'kind'>;
  /** Reads the pool at every scrape; call once with the process's database handle. */
  observeDbPool(read: () => DbPoolStats | undefined): void;
  /**
   * Reads a limit on argon2id hashing at every scrape (`kfrm_secret_hashing`: running, and
   * waiting for a place). Hashers share one limit per process by default: each limit counts once.
   */
  observeSecretHashing(limit: HashingLimit): void;
  /**
   * Reads the ledger poster's queue at every scrape (`kfrm_ledger_postings`: queued, and batches
   * in flight). One poster per process.
   */
  observeLedgerPoster(poster: LedgerPosterLoad): void;
  /** Records a ledger batch (`kfrm_ledger_batch_*`, `kfrm_ledger_posting_wait_seconds`). */
  ledgerBatchObserver: LedgerBatchObserver;
  storeObserver: StoreOperationObserver;
  externalCallObserver(provider: string): ExternalCallObserver;
  /** The exposition text of every metric (Prometheus text format 0.0.4). */
  text(): Promise<string>;
}

export interface CreateMetricsOptions {
  /** Node process metrics (CPU, memory, event loop lag, GC); on by default. */
  defaultMetrics?: boolean;
  /** Labels added to every series, e.g. { process: 'backend' }. */
  defaultLabels?: Record<string, string>;
}

/**
 * One registry per process (never prom-client's global one), so two processes started in one
 * test worker do not see each other's counts.
 */
export function createMetrics(options: CreateMetricsOptions = {}): KfrmMetrics {
  const registry = new Registry();
  if (options.defaultLabels) registry.setDefaultLabels(options.defaultLabels);
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const grpcStarted = new Counter({
    name: 'kfrm_grpc_server_started_total',
    help: 'gRPC calls started, per listener and method.',
    labelNames: ['listener', 'service', 'method'] as const,
    registers,
  });
  const grpcHandled = new Counter({
    name: 'kfrm_grpc_server_handled_total',
    help: 'gRPC calls completed, per listener, method and status code.',
    labelNames: ['listener', 'service', 'method', 'code'] as const,
    registers,
  });
  const grpcHandlingSeconds = new Histogram({
    name: 'kfrm_grpc_server_handling_seconds',
    help: 'Time from receiving a call to its status (for server streams: the stream life).',
    labelNames: ['listener', 'service', 'method'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  let readPool: (() => DbPoolStats | undefined) | undefined;
  new Gauge({
    name: 'kfrm_db_pool_connections',
    help: 'PostgreSQL pool connections by state (total, idle, waiting clients); absent for PGlite.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const stats = readPool?.();
      if (!stats) return;
      this.set({ state: 'total' }, stats.total);
      this.set({ state: 'idle' }, stats.idle);
      this.set({ state: 'waiting' }, stats.waiting);
    },
  });
  const hashingLimits = new Set<HashingLimit>();
  new Gauge({
    name: 'kfrm_secret_hashing',
    help: 'argon2id hashes and verifies running, and waiting for a place (at most one per core runs at once).',
    labelNames: ['state'] as const,
    registers,
    collect() {
      if (hashingLimits.size === 0) return;
      let running = 0;
      let waiting = 0;
      for (const limit of hashingLimits) {
        const load = limit.load();
        running += load.running;
        waiting += load.waiting;
      }
      this.set({ state: 'running' }, running);
      this.set({ state: 'waiting' }, waiting);
    },
  });
  const storeOperations = new Counter({
    name: 'kfrm_store_operations_total',
    help: 'Key/value store operations by operation and outcome.',
    labelNames: ['op', 'outcome'] as const,
    registers,
  });
  const storeOperationSeconds = new Histogram({
    name: 'kfrm_store_operation_seconds',
    help: 'Key/value store operation latency.',
    labelNames: ['op'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const externalCalls = new Counter({
    name: 'kfrm_external_calls_total',
    help: 'HTTP attempts to external providers by provider, operation and outcome.',
    labelNames: ['provider', 'operation', 'outcome'] as const,
    registers,
  });
  const externalCallSeconds = new Histogram({
    name: 'kfrm_external_call_seconds',
    help: 'External provider attempt latency.',
    labelNames: ['provider', 'operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers,
  });
  const subscribers = new Gauge({
    name: 'kfrm_stream_subscribers',
    help: 'Server streams currently open, per service.',
    labelNames: ['service'] as const,
    registers,
  });

  const dependencyUp = new Gauge({
    name: 'kfrm_dependency_up',
    help: 'Whether a required dependency answered the last health check (1) or not (0); health is NOT_SERVING while any is 0.',
    labelNames: ['dependency'] as const,
    registers,
  });

  const fundingReconciliationMismatches = new Counter({
    name: 'kfrm_funding_reconciliation_mismatches_total',
    help: 'Top-ups and withdrawals whose Konaplate record or ledger postings disagree with the funding service, by kind.',
    labelNames: ['kind'] as const,
    registers,
  });

  // The ledger's batching (KFRM_LEDGER_BATCH_*): how full batches are, how long postings wait for
  // one and how long one takes, so an operator can tell a slow database from a short queue.
  let ledgerPoster: LedgerPosterLoad | undefined;
  new Gauge({
    name: 'kfrm_ledger_postings',
    help: 'Ledger postings waiting for a batch (queued), and batches in flight (batches_in_flight); absent without the account service.',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const load = ledgerPoster?.load();
      if (!load) return;
      this.set({ state: 'queued' }, load.queued);
      this.set({ state: 'batches_in_flight' }, load.batchesInFlight);
    },
  });
  const ledgerBatchPostings = new Histogram({
    name: 'kfrm_ledger_batch_postings',
    help: 'Postings per ledger batch (one transaction), by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000],
    registers,
  });
  const ledgerBatchSeconds = new Histogram({
    name: 'kfrm_ledger_batch_seconds',
    help: 'A ledger batch from its start to its COMMIT answered (or its failure), every attempt included, by outcome.',
    labelNames: ['outcome'] as const,
    buckets: LEDGER_BUCKETS,
    registers,
  });
  const ledgerBatchRetries = new Counter({
    name: 'kfrm_ledger_batch_retries_total',
    help: 'Ledger batch attempts redone (serialization failure, deadlock or an idempotency key claimed concurrently).',
    registers,
  });
  const ledgerPostingWaitSeconds = new Histogram({
    name: 'kfrm_ledger_posting_wait_seconds',
    help: "A ledger posting's wait from its arrival to its batch's start (linger, or every batch slot busy).",
    buckets: LEDGER_BUCKETS,
    registers,
  });

  return {
    registry,
    dependencyUp,
    fundingReconciliationMismatches,
    grpcStarted,
    grpcHandled,
    grpcHandlingSeconds,
    storeOperations,
    storeOperationSeconds,
    externalCalls,
    externalCallSeconds,
    streamSubscribers: {
      gauge: subscribers,
      open(service) {
        subscribers.inc({ service });
        let open = true;
        return () => {
          // Idempotent: a stream's cleanup may run from both its end and its cancellation.
          if (!open) return;
          open = false;
          subscribers.dec({ service });
        };
      },
    },
    observeDbPool(read) {
      readPool = read;
    },
    observeSecretHashing(limit) {
      hashingLimits.add(limit);
    },
    observeLedgerPoster(poster) {
      ledgerPoster = poster;
    },
    ledgerBatchObserver({ postings, outcome, seconds, attempts, waitsSeconds }) {
      ledgerBatchPostings.observe({ outcome }, postings);
      ledgerBatchSeconds.observe({ outcome }, seconds);
      if (attempts > 1) ledgerBatchRetries.inc(attempts - 1);
      for (const wait of waitsSeconds) ledgerPostingWaitSeconds.observe(wait);
    },
    storeObserver(op, outcome, seconds) {
      storeOperations.inc({ op, outcome });
      storeOperationSeconds.observe({ op }, seconds);
    },
    externalCallObserver(provider) {
      return ({ operation, outcome, seconds }) => {
        externalCalls.inc({ provider, operation, outcome });
        externalCallSeconds.observe({ provider, operation }, seconds);
      };
    },
    text: () => registry.metrics(),
  };
}

// Transfer benchmark (not a test): transfers per second through the whole backend, as the phone
// drives them — GetPreCheck, AuthenticatePin on the TRANSFER process, a PKCS#7 signature over the
// canonical bytes (docs/transfer-signing.md), Execute — over TLS with real device certificates
// and sessions, with 1, 16 and 64 concurrent clients, on spread-out accounts and with every
// transfer crediting one hot account; the same with AuthenticateBiometric (the device key's
// signature alone, below the PIN threshold) instead of the PIN. Beside it, in the same run: the
// ledger post alone (LedgerService.PostTransfer on the internal listener, same clients and
// accounts), pgbench's built-in TPC-B-like transaction on the same server with the same client
// counts, argon2id verifies (the work a PIN transfer must do) at the same concurrency and one
// verify's CPU, PostgreSQL transactions per operation from pg_stat_database, and Redis commands
// per operation from INFO commandstats.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     npx tsx bench/transfers.ts
//
// Env: BENCH_SECONDS (per run, default 5), BENCH_CLIENTS (default "1,16,64"), BENCH_WORKLOADS
// (some of pin,bio,post; default all; the transaction and command counts need pin and bio), BENCH_POOL_MAX
// (the backend's connection pool, default 20), BENCH_WARMUP_SECONDS (unmeasured PIN, then
// biometric, transfers at the largest client count before the runs, default 10 each). Everything runs in scratch databases (created
// here, dropped at the end) and under a random store prefix. Clients are closed loops: each
// awaits its transfer's answer before starting the next. Setup and runs are bounded in count and
// time; a watchdog ends the process if anything hangs. BENCH_PROFILE_DIR=<dir> writes the
// backend's CPU profile of each workload; with BENCH_PROFILE_ALLOCATIONS=1, its sampled
// allocations instead (.heapprofile, collected objects included: what the GC had to deal with).
// The backend runs compiled, as the containers run it (BENCH_BACKEND_RUNNER=tsx: through tsx).
//
// Beside each ratio to pgbench, its bound: what the ratio would be if the backend, PostgreSQL
// and Redis cost nothing and the load generator had every core (cores / its CPU per operation,
// over pgbench's rate). pgbench's own CPU per transaction is printed for comparison: its
// client is C over the PostgreSQL protocol, ours is TLS, HTTP/2 and, for a transfer, the phone's
// E2E encryption and signatures.
import './lib/bench-limits';
import { mintLocalOperatorToken, operatorTokenInterceptor } from '@kfrm/runtime';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { unary } from '@kfrm/app-client';
import { createSecretHasher, OWASP_ARGON2ID_PARAMETERS } from '@kfrm/credentials';
import { signData } from '@kfrm/pki';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { AuthenticationServiceClient } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { AuthenticationProcess_ProcessStatus, EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { TransferServiceClient } from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { type Customer, krw, openCustomer, PIN } from '../tests/lib/bank-customer';
import { startBackendProcess } from './lib/backend-process';
import { cpuDelta, cpuMsByCommand, endedChildrenCpuMs, loadAverage } from './lib/process-cpu';
import { formatRedisCallsPerOperation, readRedisCommandCalls, redisCallsDelta } from './lib/redis-commands';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('set DATABASE_URL (a Postgres server where scratch databases may be created; pgbench runs against it)');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 10);
const clientCounts = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number);
const poolMax = Number(process.env.BENCH_POOL_MAX ?? 20);
const profileDir = process.env.BENCH_PROFILE_DIR;
const WORKLOAD_NAMES = ['pin', 'bio', 'post'] as const;
type Workload = (typeof WORKLOAD_NAMES)[number];
/** BENCH_WORKLOADS: which of the PIN transfer, the biometric transfer and the ledger post alone run (default all). */
const workloads = new Set((process.env.BENCH_WORKLOADS ?? WORKLOAD_NAMES.join(',')).split(',').map((w) => w.trim()));
const runs = (w: Workload) => workloads.has(w);
if (
  [...workloads].some((w) => !(WORKLOAD_NAMES as readonly string[]).includes(w)) ||
  !(seconds > 0 && seconds <= 120) ||
  !(warmupSeconds >= 0 && warmupSeconds <= 120) ||
  clientCounts.some((c) => !Number.isInteger(c) || c < 1 || c > 64)
) {
  console.error(
    'BENCH_SECONDS must be in (0, 120], BENCH_WARMUP_SECONDS in [0, 120], BENCH_CLIENTS integers in 1..64, BENCH_WORKLOADS some of pin,bio,post',
  );
  process.exit(2);
}
const maxClients = Math.max(...clientCounts);
/** One sender per client (at least two: random pairs need someone else to pay), plus the owner of the hot account. */
const SENDERS = Math.max(2, maxClients);
const USERS = SENDERS + 1;
/** Below the operator approval threshold (KFRM_OPERATOR_APPROVAL_THRESHOLD_KRW, default 1,000,000): one teller funds it. */
const FUNDING_KRW = 900_000n;
/** Small enough that the TRANSFER policy asks for the PIN alone (biometric from 1,000,000 KRW). */
const AMOUNT_KRW = 1n;
const OWN_INSTITUTION = '333';
/** Servers whose CPU per transfer is printed besides the backend's. */
const SERVERS = ['postgres', 'redis-server'] as const;
const { AUTH } = EncryptedMessage_ProviderType;

// Setup (USERS sign-ups, each a few argon2 hashes), the transaction-count windows (about 80 s), and
// the warm-up (two loops of `warmupSeconds`), per row three loops, pgbench and argon2id of
// `seconds` each, with a wide margin.
const watchdog = setTimeout(
  () => {
    console.error('bench/transfers: watchdog fired, giving up');
    process.exit(1);
  },
  (720 + 4 * warmupSeconds + 20 * seconds * clientCounts.length) * 1000,
);
watchdog.unref();

/** The canonical bytes the app signs (docs/transfer-signing.md), built on the app's side. */
function canonicalBytes(processId: string, source: string, target: string, amountMinor: bigint): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      v: 1,
      process_id: processId,
      source_account_number: source,
      target_institution_code: OWN_INSTITUTION,
      target_account_number: target,
      currency: 'KRW',
      amount_minor: amountMinor.toString(),
    }),
  );
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `items` through `work` with at most `parallel` at once. */
async function inBatches<T>(items: T[], parallel: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

/** Milliseconds spent in each step of the transfers of one run (successful ones only). */
const PHASES = ['GetPreCheck', 'authenticate', 'sign', 'Execute'] as const;
type Phases = Record<(typeof PHASES)[number], number>;
const noPhases = (): Phases => ({ GetPreCheck: 0, authenticate: 0, sign: 0, Execute: 0 });
/** How the TRANSFER process is passed: the PIN (the policy's fallback) or the biometric key's signature alone. */
type Factor = 'PIN' | 'BIO';

interface Result {
  count: number;
  /** Completions per second of wall time, from the start to the last completion. */
  tps: number;
  p50: number;
  p99: number;
  /** Mean latency of the calls that succeeded, ms. */
  mean: number;
  /** CPU time of the backend process (every service, argon2 threads included) per completion. */
  cpuMs: number;
  /** The backend's main thread's share of it (the JavaScript; not the verifies on libuv's pool). */
  mainThreadCpuMs: number;
  /** CPU time of this process (the phones, or the ledger client) per completion. */
  phonesCpuMs: number;
  /** CPU time of PostgreSQL and Redis per completion. */
  dbCpuMs: number;
  failed: Map<string, number>;
}

/** The result of a workload that BENCH_WORKLOADS left out: printed as "-". */
function notRun(): Result {
  return {
    count: 0,
    tps: NaN,
    p50: NaN,
    p99: NaN,
    mean: NaN,
    cpuMs: NaN,
    mainThreadCpuMs: NaN,
    phonesCpuMs: NaN,
    dbCpuMs: NaN,
    failed: new Map(),
  };
}

/** Sums and counts of the backend's histograms that split a ledger post's time in the backend. */
interface PostReadings {
  /** PostTransfer on the internal listener, receipt to status (kfrm_grpc_server_handling_seconds). */
  handling: SumCount;
  /** Committed batches: postings (kfrm_ledger_batch_postings), start to COMMIT (kfrm_ledger_batch_seconds). */
  batchPostings: SumCount;
  batchSeconds: SumCount;
  /** Each posting's wait for its batch (kfrm_ledger_posting_wait_seconds). */
  postingWait: SumCount;
}
type SumCount = { sum: number; count: number };

/** The backend's /metrics, read for `PostReadings`; undefined when it cannot be read. */
async function postReadings(): Promise<PostReadings | undefined> {
  if (backend.metricsPort === undefined) return undefined;
  let text: string;
  try {
    text = await (await fetch(`http://127.0.0.1:${backend.metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  } catch (err) {
    // A figure beside the others: the run goes on without it ("-").
    console.error('backend /metrics not read:', err);
    return undefined;
  }
  const readings: PostReadings = {
    handling: { sum: 0, count: 0 },
    batchPostings: { sum: 0, count: 0 },
    batchSeconds: { sum: 0, count: 0 },
    postingWait: { sum: 0, count: 0 },
  };
  const add = (into: SumCount, kind: string, value: string) => {
    if (kind === 'sum') into.sum += Number(value);
    else into.count += Number(value);
  };
  for (const line of text.split('\n')) {
    const m = /^(kfrm_\w+)_(sum|count)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const [, name, kind, labels = '', value] = m as unknown as [string, string, string, string | undefined, string];
    if (name === 'kfrm_grpc_server_handling_seconds') {
      if (labels.includes('listener="internal"') && labels.includes('method="PostTransfer"')) add(readings.handling, kind, value);
    } else if (name === 'kfrm_ledger_batch_postings' && labels.includes('outcome="committed"')) add(readings.batchPostings, kind, value);
    else if (name === 'kfrm_ledger_batch_seconds' && labels.includes('outcome="committed"')) add(readings.batchSeconds, kind, value);
    else if (name === 'kfrm_ledger_posting_wait_seconds') add(readings.postingWait, kind, value);
  }
  return readings;
}

/** Mean of a histogram between two readings (its sum over its count); NaN without both. */
function meanSince(before: SumCount | undefined, after: SumCount | undefined, scale = 1): number {
  if (!before || !after || after.count === before.count) return NaN;
  return ((after.sum - before.sum) * scale) / (after.count - before.count);
}

/** What the post alone's run shows of its time in the backend, from two readings. */
function postTimes(before: PostReadings | undefined, after: PostReadings | undefined) {
  return {
    handlingMs: meanSince(before?.handling, after?.handling, 1000),
    waitMs: meanSince(before?.postingWait, after?.postingWait, 1000),
    batchMs: meanSince(before?.batchSeconds, after?.batchSeconds, 1000),
    postingsPerBatch: meanSince(before?.batchPostings, after?.batchPostings),
  };
}

/**
 * Closed-loop clients that start work for `seconds`, then wait for what is in flight; latencies
 * of the calls that succeeded. At high latency a client completes only a few transfers in a short
 * run, so the rate is over the whole time to the last completion, not the nominal duration.
 */
async function closedLoop(
  clients: number,
  work: (client: number, next: () => number) => Promise<void>,
  runSeconds = seconds,
): Promise<Result> {
  const latencies: number[] = [];
  const failed = new Map<string, number>();
  const begin = performance.now();
  const cpuBefore = process.cpuUsage();
  const backendBefore = await backend.threadsCpuMs();
  const serversBefore = cpuMsByCommand(SERVERS);
  const deadline = begin + runSeconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let state = ((c + 1) * 2654435761) >>> 0;
      const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
      while (performance.now() < deadline) {
        const start = performance.now();
        try {
          await work(c, next);
          latencies.push(performance.now() - start);
        } catch (err) {
          const e = err as grpc.ServiceError;
          const key = e.code !== undefined ? `${grpc.status[e.code]}: ${e.details}` : String(err);
          failed.set(key, (failed.get(key) ?? 0) + 1);
        }
      }
    }),
  );
  const elapsedSeconds = (performance.now() - begin) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const backendAfter = await backend.threadsCpuMs();
  const servers = cpuDelta(serversBefore, cpuMsByCommand(SERVERS));
  latencies.sort((a, b) => a - b);
  return {
    count: latencies.length,
    tps: latencies.length / elapsedSeconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    mean: latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : NaN,
    cpuMs: latencies.length ? (backendAfter.all - backendBefore.all) / latencies.length : NaN,
    mainThreadCpuMs: latencies.length ? (backendAfter.mainThread - backendBefore.mainThread) / latencies.length : NaN,
    phonesCpuMs: latencies.length ? (cpu.user + cpu.system) / 1000 / latencies.length : NaN,
    dbCpuMs: latencies.length ? (servers.postgres! + servers['redis-server']!) / latencies.length : NaN,
    failed,
  };
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

function admin(text: string): void {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', databaseUrl!, '-c', text], { stdio: ['ignore', 'ignore', 'inherit'] });
}

interface PgbenchRun {
  tps: number;
  /** CPU ms per transaction: pgbench itself (the load generator) and PostgreSQL. */
  clientCpuMs: number;
  serverCpuMs: number;
}

function runPgbench(url: string, clients: number): PgbenchRun | undefined {
  const threads = Math.max(1, Math.min(clients, 2));
  const clientBefore = endedChildrenCpuMs();
  const serverBefore = cpuMsByCommand(['postgres']);
  const out = spawnSync('pgbench', ['-M', 'prepared', '-c', String(clients), '-j', String(threads), '-T', String(seconds), '-n', url], {
    encoding: 'utf8',
    timeout: (seconds + 60) * 1000,
  });
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(out.stdout ?? '') ?? /tps = ([\d.]+)/.exec(out.stdout ?? '');
  if (!match) {
    console.error('pgbench failed:', (out.stderr ?? '').slice(0, 500));
    return undefined;
  }
  const tps = Number(match[1]);
  const transactions = Number(/number of transactions actually processed: (\d+)/.exec(out.stdout)?.[1] ?? tps * seconds);
  return {
    tps,
    clientCpuMs: (endedChildrenCpuMs() - clientBefore) / transactions,
    serverCpuMs: cpuDelta(serverBefore, cpuMsByCommand(['postgres'])).postgres! / transactions,
  };
}

type Phone = Customer;

// The backend in its own process, as an operator runs it; the phones run in this one.
// Raised throttle: every transfer is a PIN check on its client's device (default 30 per 10 min).
const backend = await startBackendProcess({ authSettings: { secretChecksPerDeviceWindow: 10_000_000 }, poolMax });
const pgbenchName = `kfrm_bench_pgbench_${randomBytes(4).toString('hex')}`;
let pgbenchCreated = false;
const internalAddress = `127.0.0.1:${backend.internalPort}`;
// The operator's side (KYC approval, funding) with a token of the backend's local issuer.
const operator = {
  interceptors: [
    operatorTokenInterceptor(
      await mintLocalOperatorToken(backend.operatorIssuerDir, { roles: ['teller', 'kyc-reviewer'], subject: 'bench', ttlSeconds: 3600 }),
    ),
  ],
};
const ledger = new LedgerServiceClient(internalAddress, backend.internal.operatorTool(), operator);
const userAccounts = new UserAccountServiceClient(internalAddress, backend.internal.operatorTool(), operator);
// PostTransfer is the transfer service's alone (docs/adr/0014-service-identity.md): the ledger
// alone is driven with that service's certificate.
const ledgerAsTransfer = new LedgerServiceClient(internalAddress, backend.internal.as('transfer'));
const phones: Phone[] = [];
try {
  const serverCaPem = await readFile(backend.serverCaCertFile);
  const address = `127.0.0.1:${backend.mobilePort}`;
  const setupStart = performance.now();

  // Sign-up, login, KYC approval (operator), CASA opening, funding (operator): what a new
  // customer goes through, four phones at a time.
  await inBatches(
    Array.from({ length: USERS }, (_, i) => i),
    4,
    async (i) => {
      phones[i] = await openCustomer({
        label: `Bench User ${i}`,
        address,
        serverCaPem,
        fundingKrw: FUNDING_KRW,
        operator: { ledger, userAccounts },
        biometric: true,
      });
    },
  );
  const setupSeconds = (performance.now() - setupStart) / 1000;
  const hot = phones[USERS - 1]!;
  const senders = phones.slice(0, SENDERS);
  const targetOf = (c: number, next: () => number, hotScenario: boolean) =>
    hotScenario ? hot.accountNumber : senders[(c + 1 + (next() % (senders.length - 1 || 1))) % senders.length]!.accountNumber;

  /** GetPreCheck: the TRANSFER process's id. */
  const preCheck = async (phone: Phone, target: string): Promise<string> => {
    const transfers = phone.app.client(TransferServiceClient);
    const answer = await unary(
      transfers,
      transfers.getPreCheck,
      {
        sourceAccountNumber: phone.accountNumber,
        targetAccountNumber: target,
        targetInstitutionCode: OWN_INSTITUTION,
        amount: krw(AMOUNT_KRW),
        recipientVisibleMessage: 'bench',
        selfVisibleMessage: 'bench',
      },
      phone.session,
    );
    const processId = answer.process?.processId;
    if (!answer.success || !processId) throw new Error('GetPreCheck did not succeed');
    return processId;
  };

  /** The process's one factor: the E2E-encrypted PIN, or the biometric key's signature over the challenge. */
  const authenticate = async (phone: Phone, processId: string, factor: Factor): Promise<void> => {
    const authentication = phone.app.client(AuthenticationServiceClient);
    let done: { process?: { status: AuthenticationProcess_ProcessStatus } | undefined };
    if (factor === 'PIN') {
      const pin = await phone.app.encrypt(AUTH, PIN);
      done = await unary(authentication, authentication.authenticatePin, { processId, pin }, phone.session);
    } else {
      const signature = sign('sha256', Buffer.from(`kfrm-biometric-v1:${processId}`, 'utf8'), phone.user.biometricKey!.privateKey);
      done = await unary(
        authentication,
        authentication.authenticateBiometric,
        { processId, signature: signature.toString('base64') },
        phone.session,
      );
    }
    if (done.process?.status !== AuthenticationProcess_ProcessStatus.DONE) throw new Error(`TRANSFER process not DONE after ${factor}`);
  };

  const signTransfer = (phone: Phone, processId: string, target: string) =>
    signData({
      content: canonicalBytes(processId, phone.accountNumber, target, AMOUNT_KRW),
      certificateDer: phone.user.signingCertificateDer,
      privateKey: phone.user.signingKey.privateKey,
      detached: false,
    });

  const execute = async (phone: Phone, processId: string, target: string, signature: { base64: string }): Promise<void> => {
    const transfers = phone.app.client(TransferServiceClient);
    const executed = await unary(
      transfers,
      transfers.execute,
      {
        recipientVisibleMessage: 'bench',
        selfVisibleMessage: 'bench',
        authenticationProcessId: processId,
        signatureInfo: {
          signedData: signature.base64,
          sourceAccountNumber: phone.accountNumber,
          targetAccountNumber: target,
          targetInstitutionCode: OWN_INSTITUTION,
          amount: krw(AMOUNT_KRW),
        },
      },
      phone.session,
    );
    if (!executed.success) throw new Error('Execute answered success = false');
  };

  /** One transfer as the phone makes it; throws on anything but success. Adds its steps' times to `phases`. */
  const transfer = async (phone: Phone, target: string, factor: Factor, phases: Phases = noPhases()) => {
    const own = noPhases();
    let mark = performance.now();
    const lap = (phase: keyof Phases) => {
      const now = performance.now();
      own[phase] += now - mark;
      mark = now;
    };
    const processId = await preCheck(phone, target);
    lap('GetPreCheck');
    await authenticate(phone, processId, factor);
    lap('authenticate');
    const signature = await signTransfer(phone, processId, target);
    lap('sign');
    await execute(phone, processId, target, signature);
    lap('Execute');
    for (const phase of PHASES) phases[phase] += own[phase];
  };

  // Warm up: every phone's connection, E2E key session and code paths, one transfer of each kind.
  await inBatches(senders, 8, (p) => transfer(p, hot.accountNumber, 'PIN'));
  await inBatches(senders, 8, (p) => transfer(p, hot.accountNumber, 'BIO'));

  const runId = randomBytes(4).toString('hex');
  let seq = 0;
  const postOnly = (phone: Phone, target: string) =>
    unary(ledgerAsTransfer, ledgerAsTransfer.postTransfer, {
      idempotencyKey: `bench-${runId}-${seq++}`,
      fromAccountNumber: phone.accountNumber,
      toAccountNumber: target,
      amount: krw(AMOUNT_KRW),
      debitMemo: 'bench',
      creditMemo: 'bench',
      events: [],
      sourceOwnerUserId: phone.user.userId.toString(),
      toExternalSettlement: false,
      withdrawal: false,
    }).then(() => undefined);

  const haveTools = spawnSync('pgbench', ['--version']).status === 0;
  const pgbenchUrl = withDatabase(databaseUrl, pgbenchName);
  if (haveTools) {
    admin(`create database "${pgbenchName}"`);
    pgbenchCreated = true;
    execFileSync('pgbench', ['-i', '-s', '1', '-q', pgbenchUrl], { stdio: 'ignore', timeout: 120_000 });
  }
  const syncCommit = execFileSync('psql', ['-X', '-tA', '-d', databaseUrl, '-c', 'show synchronous_commit'], { encoding: 'utf8' }).trim();

  // PostgreSQL transactions per operation, from pg_stat_database (every statement outside a
  // transaction counts as one). A backend publishes its counters when it goes idle, at most once
  // a second, and an idle one within 10 s: each window of operations is followed by a quiet wait
  // before the reading, and the backend's own background rate (relays polling), measured over a
  // quiet window first, is taken off.
  const transactionsPerOperation = new Map<string, number>();
  let idleTransactionsPerSecond = NaN;
  // Redis commands per operation (INFO commandstats), over the same windows and idle rate.
  const redisUrl = process.env.REDIS_URL;
  const redisCallsPerOperation = new Map<string, string>();
  let idleRedisPerSecond = new Map<string, number>();
  if (backend.databaseName && runs('pin') && runs('bio')) {
    const STATS_SETTLE_MS = 11_000;
    const settle = () => new Promise((resolve) => setTimeout(resolve, STATS_SETTLE_MS));
    const readXacts = () =>
      Number(
        execFileSync(
          'psql',
          [
            '-X',
            '-tA',
            '-d',
            databaseUrl,
            '-c',
            `select xact_commit + xact_rollback from pg_stat_database where datname = '${backend.databaseName}'`,
          ],
          { encoding: 'utf8' },
        ).trim(),
      );
    const readRedis = () => (redisUrl ? readRedisCommandCalls(redisUrl) : new Map<string, number>());
    await settle();
    let lastXacts = readXacts();
    let lastRedis = readRedis();
    let lastAt = performance.now();
    await settle();
    const idleSeconds = (performance.now() - lastAt) / 1000;
    idleTransactionsPerSecond = (readXacts() - lastXacts) / idleSeconds;
    idleRedisPerSecond = new Map([...redisCallsDelta(lastRedis, readRedis())].map(([name, n]) => [name, n / idleSeconds]));
    lastXacts = readXacts();
    lastRedis = readRedis();
    lastAt = performance.now();
    const window = async (name: string, work: () => Promise<number>) => {
      const count = await work();
      await settle();
      const xacts = readXacts();
      const redis = readRedis();
      const now = performance.now();
      transactionsPerOperation.set(name, (xacts - lastXacts - (idleTransactionsPerSecond * (now - lastAt)) / 1000) / count);
      if (redisUrl)
        redisCallsPerOperation.set(
          name,
          formatRedisCallsPerOperation(redisCallsDelta(lastRedis, redis), count, idleRedisPerSecond, (now - lastAt) / 1000),
        );
      lastXacts = xacts;
      lastRedis = redis;
      lastAt = now;
    };
    for (const factor of ['PIN', 'BIO'] as const) {
      const processes: string[] = [];
      await window('GetPreCheck', async () => {
        await inBatches(senders, 16, async (p) => {
          processes[senders.indexOf(p)] = await preCheck(p, hot.accountNumber);
        });
        return senders.length;
      });
      await window(factor === 'PIN' ? 'AuthenticatePin' : 'AuthenticateBiometric', async () => {
        await inBatches(senders, 16, (p) => authenticate(p, processes[senders.indexOf(p)]!, factor));
        return senders.length;
      });
      await window(`Execute (after ${factor})`, async () => {
        await inBatches(senders, 16, async (p) => {
          const processId = processes[senders.indexOf(p)]!;
          await execute(p, processId, hot.accountNumber, await signTransfer(p, processId, hot.accountNumber));
        });
        return senders.length;
      });
    }
  }

  // What one PIN check costs by itself: the argon2id verify each PIN transfer's AuthenticatePin
  // makes; its CPU (this process's, every thread) and its rate at each concurrency.
  const hasher = createSecretHasher({ pepper: randomBytes(32) });
  const pinHash = await hasher.hashSecret(PIN);
  const argonStart = performance.now();
  const argonCpuBefore = process.cpuUsage();
  for (let k = 0; k < 20; k++) if (!(await hasher.verifySecret(pinHash, PIN))) throw new Error('argon2 verify failed');
  const argonCpu = process.cpuUsage(argonCpuBefore);
  const argonMs = (performance.now() - argonStart) / 20;
  const argonCpuMs = (argonCpu.user + argonCpu.system) / 1000 / 20;
  const argonRate = async (clients: number) => {
    let done = 0;
    const begin = performance.now();
    const until = begin + seconds * 1000;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (performance.now() < until) {
          if (!(await hasher.verifySecret(pinHash, PIN))) throw new Error('argon2 verify failed');
          done++;
        }
      }),
    );
    return done / ((performance.now() - begin) / 1000);
  };

  const rows: {
    workload: string;
    clients: number;
    full: Result;
    phases: Phases;
    bio: Result;
    bioPhases: Phases;
    post: Result;
    /**
     * The backend's own mean time per PostTransfer in that run (receipt to status), of which
     * each posting's wait for a batch, and the batches' mean time and size, ms.
     */
    postInBackend: ReturnType<typeof postTimes>;
    pgbench: PgbenchRun | undefined;
    argonPerSecond: number;
    load: string;
  }[] = [];
  // Unmeasured PIN and biometric transfers first, at the largest client count: until V8 has
  // compiled the hot paths, its compiler threads add CPU to every transfer, and the first
  // measured workload paid for it (a long-running server does not).
  if (warmupSeconds > 0) {
    const warmClients = Math.max(...clientCounts);
    await Promise.all(senders.map((p) => p.app.fetchKeys()));
    for (const factor of ['PIN', 'BIO'] as const)
      if (runs(factor === 'PIN' ? 'pin' : 'bio'))
        await closedLoop(warmClients, (c, next) => transfer(senders[c]!, targetOf(c, next, false), factor, noPhases()), warmupSeconds);
    // Posts alone warm up only in a run without transfers (BENCH_WORKLOADS=post): the default run stays as it was.
    if (!runs('pin') && !runs('bio'))
      await closedLoop(warmClients, (c, next) => postOnly(senders[c]!, targetOf(c, next, false)), warmupSeconds);
  }
  for (const hotScenario of [false, true]) {
    for (const clients of clientCounts) {
      // E2E key sessions last 10 minutes: a fresh one per run for every phone.
      await Promise.all(senders.map((p) => p.app.fetchKeys()));
      const load = loadAverage();
      // BENCH_PROFILE_DIR=<dir>: the backend's CPU (or allocation) profile of each workload, one file each.
      const profiled = <T>(name: string, run: () => Promise<T>) =>
        profileDir
          ? backend.profile(
              join(
                profileDir,
                `${name}-${clients}-${hotScenario ? 'hot' : 'random'}.${process.env.BENCH_PROFILE_ALLOCATIONS === '1' ? 'heapprofile' : 'cpuprofile'}`,
              ),
              run,
            )
          : run();
      const phases = noPhases();
      const full = runs('pin')
        ? await profiled('pin', () =>
            closedLoop(clients, (c, next) => transfer(senders[c]!, targetOf(c, next, hotScenario), 'PIN', phases)),
          )
        : notRun();
      const bioPhases = noPhases();
      const bio = runs('bio')
        ? await profiled('bio', () =>
            closedLoop(clients, (c, next) => transfer(senders[c]!, targetOf(c, next, hotScenario), 'BIO', bioPhases)),
          )
        : notRun();
      const readingsBefore = await postReadings();
      const post = runs('post')
        ? await profiled('post', () => closedLoop(clients, (c, next) => postOnly(senders[c]!, targetOf(c, next, hotScenario))))
        : notRun();
      // pgbench at scale 1 has a single branch row every transaction updates: its own hot row.
      const pgbench = haveTools && !hotScenario ? runPgbench(pgbenchUrl, clients) : rows.find((r) => r.clients === clients)?.pgbench;
      const argonPerSecond = !runs('pin')
        ? NaN
        : hotScenario
          ? rows.find((r) => r.clients === clients)!.argonPerSecond
          : await argonRate(clients);
      rows.push({
        workload: hotScenario ? 'one hot account (credited)' : `${senders.length} accounts, random pairs`,
        clients,
        full,
        phases,
        bio,
        bioPhases,
        post,
        postInBackend: postTimes(readingsBefore, await postReadings()),
        pgbench,
        argonPerSecond,
        load,
      });
      console.error(`done: ${rows.at(-1)!.workload}, ${clients} clients (load ${load})`);
    }
  }

  const f = (n: number | undefined, digits = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));
  const ratio = (a: number, b: number | undefined) => (b && !Number.isNaN(a) ? (a / b).toFixed(2) : '-');
  const serverCpu = (r: Result) => r.cpuMs + r.dbCpuMs;
  const a = OWASP_ARGON2ID_PARAMETERS;
  console.log(
    `\ntransfer benchmark: ${seconds}s per run, ${USERS} users set up in ${setupSeconds.toFixed(0)}s, synchronous_commit=${syncCommit}, ${cpus().length} CPUs, ` +
      `pool ${poolMax}, database ${backend.databaseSource}, store ${process.env.REDIS_URL ? 'redis' : 'memory'}, ledger batching ${process.env.KFRM_LEDGER_BATCH_MAX ?? 'default'}`,
  );
  console.log(
    `one argon2id verify (m=${a.memoryCostKiB} KiB t=${a.timeCost} p=${a.parallelism}), alone, sequential: ${argonMs.toFixed(1)} ms wall, ${argonCpuMs.toFixed(1)} ms CPU`,
  );
  console.log('\nfull PIN transfers (GetPreCheck, AuthenticatePin, sign, Execute) against argon2id verifies at the same concurrency;');
  console.log('the ceiling is transfers per verify for a server that did nothing but the verify, the phones on the same cores:');
  console.log(
    '| workload | clients | transfers/s | p50 / p99 ms | CPU ms / transfer (backend (its main thread), phones, pg+redis) | server CPU / argon2id CPU | argon2id verifies/s | transfers / verifies | ceiling | load avg (1/5/15 min) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    console.log(
      `| ${r.workload} | ${r.clients} | ${f(r.full.tps, 1)} | ${f(r.full.p50, 1)} / ${f(r.full.p99, 1)} | ${f(r.full.cpuMs, 1)} (${f(r.full.mainThreadCpuMs, 1)}), ${f(r.full.phonesCpuMs, 1)}, ${f(r.full.dbCpuMs, 1)} | ${ratio(serverCpu(r.full), argonCpuMs)} | ${f(r.argonPerSecond)} | ${ratio(r.full.tps, r.argonPerSecond)} | ${ratio(argonCpuMs, argonCpuMs + r.full.phonesCpuMs)} | ${r.load} |`,
    );
  }
  console.log('\nbiometric transfers (GetPreCheck, AuthenticateBiometric, sign, Execute) and the ledger post alone against pgbench TPC-B;');
  console.log(
    `the bound is the ratio if the backend, PostgreSQL and Redis cost nothing: the load generator alone on the ${cpus().length} cores (cores / its CPU per operation, over pgbench's rate):`,
  );
  console.log(
    '| workload | clients | biometric transfers/s | p50 / p99 ms | CPU ms / transfer (backend (its main thread), phones, pg+redis) | PostTransfer/s (ledger only) | p50 / p99 ms | CPU ms / post (backend, client, pg+redis) | pgbench TPC-B tps | CPU ms / pgbench transaction (pgbench, PostgreSQL) | biometric / pgbench (bound) | ledger / pgbench (bound) | load avg (1/5/15 min) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  const bound = (clientCpuMs: number, pgbench: PgbenchRun | undefined) => ratio((cpus().length * 1000) / clientCpuMs, pgbench?.tps);
  for (const r of rows) {
    const pg = r.pgbench;
    console.log(
      `| ${r.workload} | ${r.clients} | ${f(r.bio.tps, 1)} | ${f(r.bio.p50, 1)} / ${f(r.bio.p99, 1)} | ${f(r.bio.cpuMs, 1)} (${f(r.bio.mainThreadCpuMs, 1)}), ${f(r.bio.phonesCpuMs, 1)}, ${f(r.bio.dbCpuMs, 1)} | ${f(r.post.tps)} | ${f(r.post.p50, 1)} / ${f(r.post.p99, 1)} | ${f(r.post.cpuMs, 2)}, ${f(r.post.phonesCpuMs, 2)}, ${f(r.post.dbCpuMs, 2)} | ${f(pg?.tps)} | ${f(pg?.clientCpuMs, 2)}, ${f(pg?.serverCpuMs, 2)} | ${ratio(r.bio.tps, pg?.tps)} (${bound(r.bio.phonesCpuMs, pg)}) | ${ratio(r.post.tps, pg?.tps)} (${bound(r.post.phonesCpuMs, pg)}) | ${r.load} |`,
    );
  }
  console.log(
    '\nthe ledger post alone, mean ms per call: in the backend (kfrm_grpc_server_handling_seconds, receipt to status), of which waiting for a batch' +
      ' (kfrm_ledger_posting_wait_seconds), and as the client saw it; the batches (kfrm_ledger_batch_*): mean ms from start to COMMIT, mean postings:',
  );
  console.log('| workload | clients | in the backend | waiting for a batch | at the client | a batch, ms | postings per batch |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const b = r.postInBackend;
    console.log(
      `| ${r.workload} | ${r.clients} | ${f(b.handlingMs, 2)} | ${f(b.waitMs, 2)} | ${f(r.post.mean, 2)} | ${f(b.batchMs, 2)} | ${f(b.postingsPerBatch, 1)} |`,
    );
  }
  console.log('\nwhere a transfer spends its time (mean ms per successful transfer, as the client sees it; PIN / biometric):');
  console.log(`| workload | clients | ${PHASES.join(' | ')} |`);
  console.log(`|---|---:|${PHASES.map(() => '---:').join('|')}|`);
  for (const r of rows) {
    const per = (p: Phases, res: Result, phase: keyof Phases) => f(res.count ? p[phase] / res.count : NaN, 1);
    console.log(
      `| ${r.workload} | ${r.clients} | ${PHASES.map((p) => `${per(r.phases, r.full, p)} / ${per(r.bioPhases, r.bio, p)}`).join(' | ')} |`,
    );
  }
  if (transactionsPerOperation.size > 0) {
    console.log(
      `\nPostgreSQL transactions per operation (pg_stat_database xact_commit + xact_rollback of the backend's database, ${senders.length} operations per window, 16 at a time; idle background ${idleTransactionsPerSecond.toFixed(1)}/s taken off):`,
    );
    for (const [name, n] of transactionsPerOperation) console.log(`  ${name}: ${n.toFixed(1)}`);
    const t = (name: string) => transactionsPerOperation.get(name) ?? NaN;
    console.log(
      `  full PIN transfer: ${(t('GetPreCheck') + t('AuthenticatePin') + t('Execute (after PIN)')).toFixed(1)}; biometric transfer: ${(t('GetPreCheck') + t('AuthenticateBiometric') + t('Execute (after BIO)')).toFixed(1)}`,
    );
  }
  if (redisCallsPerOperation.size > 0) {
    console.log('\nRedis commands per operation (INFO commandstats over the same windows, idle rate taken off):');
    for (const [name, calls] of redisCallsPerOperation) console.log(`  ${name}: ${calls}`);
  }
  for (const r of rows) {
    for (const [kind, result] of [
      ['full', r.full],
      ['biometric', r.bio],
      ['ledger', r.post],
    ] as const) {
      for (const [reason, count] of result.failed)
        console.log(`(${r.workload}, ${r.clients} clients, ${kind}: ${count} failed: ${reason})`);
    }
  }
} finally {
  for (const p of phones) p?.app.close();
  ledger.close();
  ledgerAsTransfer.close();
  userAccounts.close();
  await backend.stop();
  if (pgbenchCreated) admin(`drop database if exists "${pgbenchName}" with (force)`);
}

// Ledger benchmark (not a test): transfers per second through the LedgerPoster, batched and
// unbatched, with 1, 16 and 64 concurrent callers, on spread-out accounts and with every
// transfer crediting one hot account; and pgbench's built-in TPC-B-like transaction on the same
// server with the same client counts, for comparison.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/ledger.ts
//
// Env: BENCH_SECONDS (per run, default 5), BENCH_CLIENTS (default "1,16,64"), BENCH_EVENTS (1: two
// outbox events per post, as the transfer service's; default none), BENCH_BATCH_CONCURRENCY,
// BENCH_BATCH_LINGER_MS, BENCH_BATCH_MAX (batched mode; default the poster's own). Everything runs in
// scratch databases (created here, dropped at the end). Callers are closed loops: each awaits its
// transfer's acknowledgement (after COMMIT) before sending the next. PostgreSQL's CPU per post
// (and per pgbench transaction) is read from /proc over each run's window: it includes whatever
// the server does in the background meanwhile (autovacuum after the previous run, checkpoints),
// so compare it over several runs.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
// The root package has no dependencies of its own: the workspace packages are imported by path.
import { migrateSchema, openDatabase } from '../packages/db/src/index';
import { createMemoryStore } from '../packages/store/src/index';
import { createLedger } from '../services/account/src/ledger';
import { LedgerPoster, type LedgerPosterOptions } from '../services/account/src/ledger-poster';
import { LEDGER_SCHEMA, type LedgerDatabase } from '../services/account/src/ledger.table';
import { migrations } from '../services/account/src/migrations';
import { cpuMsByCommand, loadAverage } from './lib/process-cpu';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('set DATABASE_URL (a Postgres server where scratch databases may be created)');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const clientCounts = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number);
const ACCOUNTS = 1_000;
// BENCH_EVENTS=1: every post also writes two outbox events, as the transfer service's posts do.
// Outbox writers take the outbox_position row last and hold it until COMMIT (ids visible in
// order), so their commits queue one behind the other; batching is what spreads that.
const WITH_EVENTS = process.env.BENCH_EVENTS === '1';
// Unbatched mode gets one connection per caller, as pgbench does (max_connections permitting).
const POOL_MAX = 80;

const MODES: Record<'unbatched' | 'batched', (clients: number) => LedgerPosterOptions> = {
  // One transaction per transfer, as many in flight as there are callers.
  unbatched: (clients) => ({ maxBatchSize: 1, lingerMs: 0, maxConcurrentBatches: Math.min(clients, POOL_MAX) }),
  // The poster's defaults, as the account service runs it (an idle poster starts at once; batches
  // form while earlier ones commit), unless the environment overrides them.
  batched: () => ({
    ...(process.env.BENCH_BATCH_CONCURRENCY ? { maxConcurrentBatches: Number(process.env.BENCH_BATCH_CONCURRENCY) } : {}),
    ...(process.env.BENCH_BATCH_LINGER_MS ? { lingerMs: Number(process.env.BENCH_BATCH_LINGER_MS) } : {}),
    ...(process.env.BENCH_BATCH_MAX ? { maxBatchSize: Number(process.env.BENCH_BATCH_MAX) } : {}),
  }),
};

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** CREATE/DROP DATABASE on the server (through psql: no driver needed at the root). */
function admin(text: string): void {
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', databaseUrl!, '-c', text], { stdio: ['ignore', 'ignore', 'inherit'] });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Result {
  tps: number;
  p50: number;
  p99: number;
  refused: number;
  /** PostgreSQL's CPU (every postgres process, /proc) per acknowledged post, ms. */
  pgCpuMs: number;
}

/** PostgreSQL's CPU so far, ms (all its processes: the backends, the WAL writer, the checkpointer). */
const postgresCpuMs = () => cpuMsByCommand(['postgres']).postgres!;

async function runLedger(
  mode: keyof typeof MODES,
  clients: number,
  hot: boolean,
  accounts: string[],
  hotAccount: string,
  runId: string,
): Promise<Result> {
  const options = MODES[mode](clients);
  // A pool per run, as large as the mode can use, closed afterwards (pgbench needs the connections).
  const db = await openDatabase({ databaseUrl: benchUrl, poolMax: (options.maxConcurrentBatches ?? 4) + 1 });
  const kysely = db.kysely<LedgerDatabase>(LEDGER_SCHEMA);
  const poster = new LedgerPoster(kysely, options);
  const ledger = createLedger({ db: kysely, poster, store: createMemoryStore() });
  const latencies: number[] = [];
  let refused = 0;
  let seq = 0;
  const pgBefore = postgresCpuMs();
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let state = (c + 1) * 2654435761;
      const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
      while (performance.now() < deadline) {
        const from = accounts[next() % accounts.length]!;
        let to = hot ? hotAccount : accounts[next() % accounts.length]!;
        if (to === from) to = accounts[(accounts.indexOf(from) + 1) % accounts.length]!;
        const start = performance.now();
        try {
          await ledger.postTransfer({
            idempotencyKey: `${runId}-${c}-${seq++}`,
            fromAccountNumber: from,
            toAccountNumber: to,
            amount: { currency: 'KRW', minor: 1n },
            debitMemo: 'bench',
            creditMemo: 'bench',
            events: WITH_EVENTS
              ? [
                  { userId: 'bench-from', type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_OUT', counterpartyName: 'bench' },
                  { userId: 'bench-to', type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_IN', counterpartyName: 'bench' },
                ]
              : [],
          });
          latencies.push(performance.now() - start);
        } catch {
          refused++;
        }
      }
    }),
  );
  const pgCpuMs = (postgresCpuMs() - pgBefore) / latencies.length;
  await poster.close();
  await db.close();
  latencies.sort((a, b) => a - b);
  return { tps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), refused, pgCpuMs };
}

function runPgbench(url: string, clients: number): { tps: number; pgCpuMs: number } | undefined {
  const threads = Math.max(1, Math.min(clients, cpus().length));
  const pgBefore = postgresCpuMs();
  const out = spawnSync('pgbench', ['-M', 'prepared', '-c', String(clients), '-j', String(threads), '-T', String(seconds), '-n', url], {
    encoding: 'utf8',
  });
  const pgCpu = postgresCpuMs() - pgBefore;
  const match = /tps = ([\d.]+) \(without initial connection time\)/.exec(out.stdout) ?? /tps = ([\d.]+)/.exec(out.stdout);
  const processed = /number of transactions actually processed: (\d+)/.exec(out.stdout);
  if (!match || !processed) {
    console.error('pgbench failed:', out.stderr.slice(0, 500));
    return undefined;
  }
  return { tps: Number(match[1]), pgCpuMs: pgCpu / Number(processed[1]) };
}

const name = `kfrm_bench_${randomBytes(4).toString('hex')}`;
const pgbenchName = `${name}_pgbench`;
admin(`create database "${name}"`);
const benchUrl = withDatabase(databaseUrl, name);
const db = await openDatabase({ databaseUrl: benchUrl, poolMax: 8 });
const rows: {
  workload: string;
  clients: number;
  unbatched: Result;
  batched: Result;
  pgbench: { tps: number; pgCpuMs: number } | undefined;
  load: string;
}[] = [];
try {
  await migrateSchema(db, { schema: LEDGER_SCHEMA, migrations });
  const kysely = db.kysely<LedgerDatabase>(LEDGER_SCHEMA);
  const setupPoster = new LedgerPoster(kysely, { maxBatchSize: 64, lingerMs: 0 });
  const setup = createLedger({ db: kysely, poster: setupPoster, store: createMemoryStore() });
  const accounts: string[] = [];
  for (let i = 0; i < ACCOUNTS; i++)
    accounts.push((await setup.createAccount({ ownerUserId: `bench-${i}`, name: `bench ${i}`, currency: 'KRW' })).accountNumber);
  const hotAccount = (await setup.createAccount({ ownerUserId: 'bench-hot', name: 'hot', currency: 'KRW' })).accountNumber;
  await Promise.all(
    accounts.map((a, i) =>
      setup.deposit({ idempotencyKey: `fund-${i}`, accountNumber: a, amount: { currency: 'KRW', minor: 10n ** 12n }, memo: 'fund' }),
    ),
  );
  await setupPoster.close();
  await db.close();

  const haveTools = spawnSync('pgbench', ['--version']).status === 0;
  const pgbenchUrl = withDatabase(databaseUrl, pgbenchName);
  if (haveTools) {
    admin(`create database "${pgbenchName}"`);
    execFileSync('pgbench', ['-i', '-s', '1', '-q', pgbenchUrl], { stdio: 'ignore' });
  }
  const syncCommit = execFileSync('psql', ['-X', '-tA', '-d', databaseUrl!, '-c', 'show synchronous_commit'], { encoding: 'utf8' }).trim();

  for (const hot of [false, true]) {
    for (const clients of clientCounts) {
      const runId = randomBytes(4).toString('hex');
      const load = loadAverage();
      const unbatched = await runLedger('unbatched', clients, hot, accounts, hotAccount, `u${runId}`);
      const batched = await runLedger('batched', clients, hot, accounts, hotAccount, `b${runId}`);
      // pgbench at scale 1 has a single branch row that every transaction updates: its own hot row.
      const pgbench = haveTools && !hot ? runPgbench(pgbenchUrl, clients) : rows.find((r) => r.clients === clients)?.pgbench;
      rows.push({ workload: hot ? 'one hot account' : `${ACCOUNTS} accounts`, clients, unbatched, batched, pgbench, load });
      console.error(`done: ${rows.at(-1)!.workload}, ${clients} clients`);
    }
  }

  const f = (n: number | undefined, digits = 0) => (n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits));
  console.log(
    `\nledger benchmark: ${seconds}s per run, synchronous_commit=${syncCommit}, ${cpus().length} CPUs, batched = ${JSON.stringify(MODES.batched(1)) === '{}' ? 'the poster defaults (32 per batch, 1 ms linger only while a batch is in flight, 2 in flight)' : JSON.stringify(MODES.batched(1))}, ${WITH_EVENTS ? 'two outbox events per post' : 'no outbox events'}`,
  );
  console.log(
    '| workload | clients | unbatched tx/s | p50 / p99 ms | PostgreSQL CPU ms / post | batched tx/s | p50 / p99 ms | PostgreSQL CPU ms / post | pgbench TPC-B tps | PostgreSQL CPU ms / pgbench tx | batched / pgbench | load avg (1/5/15 min) |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of rows) {
    console.log(
      `| ${r.workload} | ${r.clients} | ${f(r.unbatched.tps)} | ${f(r.unbatched.p50, 1)} / ${f(r.unbatched.p99, 1)} | ${f(r.unbatched.pgCpuMs, 3)} | ${f(r.batched.tps)} | ${f(r.batched.p50, 1)} / ${f(r.batched.p99, 1)} | ${f(r.batched.pgCpuMs, 3)} | ${f(r.pgbench?.tps)} | ${f(r.pgbench?.pgCpuMs, 3)} | ${r.pgbench ? (r.batched.tps / r.pgbench.tps).toFixed(2) : '-'} | ${r.load} |`,
    );
  }
  const refused = rows.reduce((s, r) => s + r.unbatched.refused + r.batched.refused, 0);
  if (refused > 0) console.log(`(${refused} transfers refused or failed; not counted)`);
} finally {
  await db.close();
  admin(`drop database if exists "${name}" with (force)`);
  admin(`drop database if exists "${pgbenchName}" with (force)`);
}

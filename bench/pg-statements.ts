// What PostgreSQL spends per operation, statement by statement (diagnostic, not a benchmark of
// rates). A private cluster of the machine's PostgreSQL (initdb on a free port, fsync on) with
// pg_stat_statements preloaded; the backend in its own process on it (compiled, as the
// benchmarks run it); one phone, one operation at a time. For each operation — a PIN transfer, a
// biometric transfer, a GetAccount, a PIN login — the statistics are reset, the operation runs
// BENCH_ROUNDS times, and each statement is printed with its calls, its plans (a statement
// planned at every execution shows as many plans as calls), its mean planning and execution time,
// the shared buffers it touched and the WAL it wrote, per call; then the operation's total server
// time and statements (the trace scripts count its transactions). pgbench's TPC-B transaction on the same cluster is the reference.
//
//   npx tsx bench/pg-statements.ts        (REDIS_URL optional; needs Debian's postgresql package)
//
// Env: BENCH_ROUNDS (per operation, default 100), BENCH_WARMUP_ROUNDS (default 20). Server time
// is PostgreSQL's own measure of planning and executing each statement (pg_stat_statements); it
// leaves out the protocol and COMMIT's WAL flush, which /proc-based figures include. What the
// backend runs meanwhile with nobody calling (relays, pollers) counts towards the operation.
import './lib/bench-limits';
import { spawnSync } from 'node:child_process';
import { loginWithPin, unary } from '@kfrm/app-client';
import { AccountServiceClient } from '@kfrm/proto/gen/kfrm/api/account/account';
import { openDatabase } from '@kfrm/db';
import { sql } from 'kysely';
import { PIN } from '../tests/lib/bank-customer';
import { canRunPrivatePostgres, startPrivatePostgres } from '../tests/fault/lib/private-postgres';
import { startBackendProcess } from './lib/backend-process';
import { loadAverage } from './lib/process-cpu';
import { openCustomerPair, transferOneKrw } from './lib/transfer-steps';

const rounds = Number(process.env.BENCH_ROUNDS ?? 100);
const warmupRounds = Number(process.env.BENCH_WARMUP_ROUNDS ?? 20);
if (
  !(
    Number.isInteger(rounds) &&
    rounds >= 10 &&
    rounds <= 2000 &&
    Number.isInteger(warmupRounds) &&
    warmupRounds >= 0 &&
    warmupRounds <= 500
  )
) {
  console.error('BENCH_ROUNDS in 10..2000, BENCH_WARMUP_ROUNDS in 0..500');
  process.exit(2);
}
if (!canRunPrivatePostgres()) {
  console.error('needs the PostgreSQL server binaries under /usr/lib/postgresql (apt-get install -y postgresql)');
  process.exit(2);
}

interface StatementRow {
  query: string;
  calls: string;
  plans: string;
  plan_ms: number;
  exec_ms: number;
  blks: string;
  wal_bytes: string;
}

const cluster = await startPrivatePostgres({
  fsync: true,
  settings: {
    shared_preload_libraries: 'pg_stat_statements',
    'pg_stat_statements.track': 'all',
    'pg_stat_statements.track_planning': 'on',
    'pg_stat_statements.max': '10000',
  },
});
const adminHandle = await openDatabase({ databaseUrl: cluster.url, poolMax: 1 }).catch((err: unknown) => {
  cluster.destroy();
  throw err;
});
const admin = adminHandle.kysely();
try {
  await sql`create extension pg_stat_statements`.execute(admin);
  process.env.DATABASE_URL = cluster.url;
  const backend = await startBackendProcess({ authSettings: { secretChecksPerDeviceWindow: 1_000_000 } });
  const pair = await openCustomerPair(backend, 'PG statements').catch(async (err: unknown) => {
    await backend.stop();
    throw err;
  });
  try {
    const [a, b] = pair.customers;
    const accounts = a.app.client(AccountServiceClient);
    const operations: [string, () => Promise<unknown>][] = [
      ['PIN transfer', () => transferOneKrw(a, b, 'PIN', (_step, call) => call(), 'pg-statements')],
      ['biometric transfer', () => transferOneKrw(a, b, 'BIO', (_step, call) => call(), 'pg-statements')],
      ['GetAccount', () => unary(accounts, accounts.getAccount, { accountNumber: a.accountNumber }, a.session)],
      // Last: a login opens a session of its own, which the transfers above do not use.
      ['PIN login', () => loginWithPin(b.app, b.user.userToken, PIN)],
    ];
    console.log(
      `\nPostgreSQL's time per operation, statement by statement (${rounds} of each, one at a time, after ${warmupRounds} unmeasured)`,
    );
    const totals: string[] = [];
    for (const [name, operation] of operations) {
      for (let i = 0; i < warmupRounds; i++) await operation();
      const load = loadAverage();
      await sql`select pg_stat_statements_reset()`.execute(admin);
      for (let i = 0; i < rounds; i++) await operation();
      const { rows } = await sql<StatementRow>`
        select regexp_replace(query, '[[:space:]]+', ' ', 'g') as query, calls, plans, total_plan_time as plan_ms,
               total_exec_time as exec_ms, shared_blks_hit + shared_blks_read as blks, wal_bytes
          from pg_stat_statements s join pg_database d on d.oid = s.dbid
         where d.datname = ${backend.databaseName} and s.toplevel
         order by total_plan_time + total_exec_time desc`.execute(admin);
      const serverMs = rows.reduce((sum, r) => sum + Number(r.plan_ms) + Number(r.exec_ms), 0);
      const statements = rows
        .filter((r) => !/^ ?(begin|commit|rollback|start transaction)/i.test(r.query))
        .reduce((sum, r) => sum + Number(r.calls), 0);
      console.log(`\n${name} (load ${load}):`);
      console.log('| calls per op | plans | plan µs | exec µs | buffers per call | WAL bytes per call | statement |');
      console.log('|---:|---:|---:|---:|---:|---:|---|');
      for (const r of rows) {
        const calls = Number(r.calls);
        if (calls < rounds / 10) continue; // start-up and rare background statements
        const perCallUs = (ms: number, n: number) => (n > 0 ? ((ms / n) * 1000).toFixed(0) : '-');
        console.log(
          `| ${(calls / rounds).toFixed(2)} | ${r.plans} | ${perCallUs(Number(r.plan_ms), Number(r.plans))} | ${perCallUs(Number(r.exec_ms), calls)} | ` +
            `${(Number(r.blks) / calls).toFixed(1)} | ${(Number(r.wal_bytes) / calls).toFixed(0)} | ${r.query.slice(0, 90).replaceAll('|', '\\|')} |`,
        );
      }
      totals.push(
        `| ${name} | ${((serverMs / rounds) * 1000).toFixed(0)} | ${(statements / rounds).toFixed(1)} | ${rows.filter((r) => Number(r.plans) >= Number(r.calls) && Number(r.calls) >= rounds).length} |`,
      );
    }
    // The reference: pgbench's TPC-B transaction (five statements in one transaction) on the same cluster.
    const bench = { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(cluster.port), PGUSER: 'postgres' };
    spawnSync('pgbench', ['-i', '-s', '1', '-q', 'postgres'], { env: bench, stdio: 'ignore' });
    await sql`select pg_stat_statements_reset()`.execute(admin);
    const out = spawnSync('pgbench', ['-M', 'prepared', '-n', '-c', '1', '-t', String(rounds * 10), 'postgres'], {
      env: bench,
      encoding: 'utf8',
    });
    if (out.status === 0) {
      const { rows } = await sql<{ ms: number }>`
        select sum(total_plan_time + total_exec_time) as ms from pg_stat_statements s join pg_database d on d.oid = s.dbid
         where d.datname = 'postgres' and query ~* 'pgbench_'`.execute(admin);
      totals.push(`| pgbench TPC-B transaction (its reference) | ${((Number(rows[0]!.ms) / (rounds * 10)) * 1000).toFixed(0)} | 5.0 | 0 |`);
    }
    console.log(
      '\nper operation: PostgreSQL server time (planning and executing its statements, COMMIT included), statements besides BEGIN and COMMIT, statements planned at every execution',
    );
    console.log('| operation | server µs | statements | always planned |');
    console.log('|---|---:|---:|---:|');
    for (const line of totals) console.log(line);
  } finally {
    pair.close();
    await backend.stop();
  }
} finally {
  await adminHandle.close().catch(() => {});
  cluster.destroy();
}

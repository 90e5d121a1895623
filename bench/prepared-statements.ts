// Prepared-statement benchmark (not a test): what naming QueryTemplate statements saves
// PostgreSQL and the backend (packages/db/src/prepared-statements.ts). The same templates — a
// 14-column row by its key (`select *`, as the user and account reads do), the same row locked
// and updated with RETURNING inside a transaction (as the ledger and process writes do) — run
// by closed loops on one pool, once as Kysely sends them (unnamed: parsed and planned every
// time) and once as named statements, in alternating rounds.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/prepared-statements.ts
//
// Prints statements/s, PostgreSQL CPU µs per statement — read from /proc for this pool's own
// server processes only (pg_backend_pid of each connection), so other clients of the server do
// not count — and this process's CPU µs per statement, with the load average. Env: BENCH_SECONDS
// (per round, default 4), BENCH_CLIENTS (default 16), BENCH_ROUNDS (default 2 per mode).
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { sql } from 'kysely';
import { openDatabase, QueryTemplate, type DatabaseHandle } from '@kfrm/db';
import { withDatabaseName } from '@kfrm/db/test-database';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('set DATABASE_URL (a PostgreSQL server where a scratch database may be created)');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const clients = Number(process.env.BENCH_CLIENTS ?? 16);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
if (!(seconds > 0 && seconds <= 60 && clients >= 1 && clients <= 64 && rounds >= 1 && rounds <= 5)) {
  console.error('BENCH_SECONDS in (0, 60], BENCH_CLIENTS in 1..64, BENCH_ROUNDS in 1..5');
  process.exit(2);
}
const ROWS = 1000;
const POOL = 8;

interface Accounts {
  accounts: {
    id: number;
    account_number: string;
    owner_id: string;
    product: string;
    currency: string;
    balance: string;
    available: string;
    debited_today: string;
    business_day: string;
    status: string;
    opened_at: Date;
    updated_at: Date;
    revision: number;
    memo: string | null;
  };
}

const byNumber = QueryTemplate.of<Accounts, { number: string }>()((db, param) =>
  db.selectFrom('accounts').selectAll().where('account_number', '=', param('number')),
);
const lockByNumber = QueryTemplate.of<Accounts, { number: string }>()((db, param) =>
  db.selectFrom('accounts').select(['id', 'balance', 'revision']).where('account_number', '=', param('number')).forUpdate(),
);
const credit = QueryTemplate.of<Accounts, { id: number; amount: string }>()((db, param) =>
  db
    .updateTable('accounts')
    .set((eb) => ({
      balance: sql`${eb.ref('balance')} + ${param('amount')}::numeric`,
      revision: sql`${eb.ref('revision')} + 1`,
      updated_at: sql`now()`,
    }))
    .where('id', '=', param('id'))
    .returning(['balance', 'revision']),
);

const accountNumber = (i: number) => `110-${String(i).padStart(6, '0')}`;

function processCpuUs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10_000; // USER_HZ = 100
}

async function serverPids(handle: DatabaseHandle, appName: string): Promise<number[]> {
  // Fill the pool, then ask the server which processes serve it.
  const db = handle.kysely();
  await Promise.all(Array.from({ length: POOL * 2 }, () => sql`select pg_sleep(0.05)`.execute(db)));
  const { rows } = await sql<{ pid: number }>`select pid from pg_stat_activity where application_name = ${appName}`.execute(db);
  return rows.map((r) => r.pid);
}

type Workload = 'read' | 'locked update';

async function run(
  handle: DatabaseHandle,
  pids: number[],
  workload: Workload,
): Promise<{ perSecond: number; pgUs: number; clientUs: number }> {
  const db = handle.kysely();
  let statements = 0;
  const until = Date.now() + seconds * 1000;
  const pgBefore = processCpuUs(pids);
  const cpuBefore = process.cpuUsage();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let i = c;
      while (Date.now() < until) {
        i = (i * 7 + 13) % ROWS;
        const number = accountNumber(i);
        if (workload === 'read') {
          await byNumber.execute(db, { number });
          statements += 1;
        } else {
          await db.transaction().execute(async (tx) => {
            const row = await lockByNumber.executeTakeFirst(tx, { number });
            await credit.execute(tx, { id: row!.id, amount: '1' });
          });
          statements += 4; // BEGIN, lock, update, COMMIT
        }
      }
    }),
  );
  const cpu = process.cpuUsage(cpuBefore);
  const pgUs = processCpuUs(pids) - pgBefore;
  return { perSecond: statements / seconds, pgUs: pgUs / statements, clientUs: (cpu.user + cpu.system) / statements };
}

async function main(): Promise<void> {
  const scratch = `kfrm_bench_prepared_${randomBytes(4).toString('hex')}`;
  const admin = await openDatabase({ databaseUrl, poolMax: 1, preparedStatements: false });
  await sql.raw(`create database "${scratch}"`).execute(admin.kysely());
  const url = withDatabaseName(databaseUrl!, scratch);
  const handles: Record<'unnamed' | 'named', { handle: DatabaseHandle; pids: number[] }> = {} as never;
  try {
    const setup = await openDatabase({ databaseUrl: url, poolMax: 1, preparedStatements: false });
    await sql
      .raw(`create table accounts (
      id serial primary key, account_number text not null unique, owner_id text not null, product text not null,
      currency text not null, balance numeric(20,0) not null, available numeric(20,0) not null,
      debited_today numeric(20,0) not null, business_day date not null, status text not null,
      opened_at timestamptz not null, updated_at timestamptz not null, revision int not null, memo text)`)
      .execute(setup.kysely());
    await sql
      .raw(
        `insert into accounts (account_number, owner_id, product, currency, balance, available, debited_today, business_day, status, opened_at, updated_at, revision)
       select '110-' || lpad(g::text, 6, '0'), 'user-' || g, 'CASA', 'KRW', 1000000, 1000000, 0, current_date, 'ACTIVE', now(), now(), 0
       from generate_series(0, ${ROWS - 1}) g`,
      )
      .execute(setup.kysely());
    await setup.close();
    for (const mode of ['unnamed', 'named'] as const) {
      const appName = `kfrm-bench-${mode}-${process.pid}`;
      const handle = await openDatabase({
        databaseUrl: url,
        poolMax: POOL,
        applicationName: appName,
        preparedStatements: mode === 'named',
      });
      handles[mode] = { handle, pids: await serverPids(handle, appName) };
    }
    console.log(
      `prepared statements: ${clients} clients on a pool of ${POOL}, ${seconds} s per round, ${rounds} round(s) per mode, alternating; ${ROWS} rows`,
    );
    console.log('| workload | statements | round | statements/s | PostgreSQL CPU µs / statement | client CPU µs / statement | load avg |');
    console.log('|---|---|---:|---:|---:|---:|---|');
    const sums: Record<string, { n: number; rate: number; pg: number; client: number }> = {};
    for (const workload of ['read', 'locked update'] as const) {
      // Warm both: the first named call parses on each connection.
      for (const mode of ['unnamed', 'named'] as const) await runBrief(handles[mode].handle, workload);
      for (let round = 1; round <= rounds; round++) {
        for (const mode of round % 2 === 1 ? (['unnamed', 'named'] as const) : (['named', 'unnamed'] as const)) {
          const load = loadavg()
            .map((l) => l.toFixed(2))
            .join(' ');
          const r = await run(handles[mode].handle, handles[mode].pids, workload);
          const key = `${workload}|${mode}`;
          const s = sums[key] ?? { n: 0, rate: 0, pg: 0, client: 0 };
          sums[key] = s;
          s.n += 1;
          s.rate += r.perSecond;
          s.pg += r.pgUs;
          s.client += r.clientUs;
          console.log(
            `| ${workload} | ${mode} | ${round} | ${r.perSecond.toFixed(0)} | ${r.pgUs.toFixed(1)} | ${r.clientUs.toFixed(1)} | ${load} |`,
          );
        }
      }
    }
    console.log('\nmeans, named / unnamed:');
    for (const workload of ['read', 'locked update']) {
      const u = sums[`${workload}|unnamed`]!;
      const n = sums[`${workload}|named`]!;
      console.log(
        `  ${workload}: statements/s ${(n.rate / n.n).toFixed(0)} / ${(u.rate / u.n).toFixed(0)} = ${(n.rate / u.rate).toFixed(2)}×; ` +
          `PostgreSQL CPU µs per statement ${(n.pg / n.n).toFixed(1)} / ${(u.pg / u.n).toFixed(1)} = ${(n.pg / u.pg).toFixed(2)}×; ` +
          `client CPU µs ${(n.client / n.n).toFixed(1)} / ${(u.client / u.n).toFixed(1)} = ${(n.client / u.client).toFixed(2)}×`,
      );
    }
  } finally {
    for (const h of Object.values(handles)) await h.handle.close();
    await sql.raw(`drop database if exists "${scratch}" with (force)`).execute(admin.kysely());
    await admin.close();
  }
}

async function runBrief(handle: DatabaseHandle, workload: Workload): Promise<void> {
  const db = handle.kysely();
  for (let i = 0; i < POOL * 4; i++) {
    if (workload === 'read') await Promise.all(Array.from({ length: POOL }, (_, c) => byNumber.execute(db, { number: accountNumber(c) })));
    else
      await Promise.all(
        Array.from({ length: POOL }, (_, c) =>
          db.transaction().execute(async (tx) => {
            const row = await lockByNumber.executeTakeFirst(tx, { number: accountNumber(c) });
            await credit.execute(tx, { id: row!.id, amount: '0' });
          }),
        ),
      );
  }
}

await main();

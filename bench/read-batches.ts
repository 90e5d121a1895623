// What batching a read by key saves (ADR 0026), measured on the stack the services use: a
// QueryTemplate (named statement, kysely, pg pool) reading one row by primary key, through
// `batchedRead` with its defaults (two statements in flight) against the same read with as many
// statements in flight as callers (every read alone, as before ADR 0026).
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/read-batches.ts
//
// Closed loops of C callers (BENCH_CLIENTS, default 1,16,64), each reading a random key of 20,000
// and awaiting it before the next, for BENCH_SECONDS (default 5) per row, alternating the two
// modes twice. Prints reads per second, statements per read, and CPU µs per read of this process
// (the caller and the pool) and of PostgreSQL (/proc, every postgres process), with `uptime`.
import './lib/bench-limits';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { anyOfKeys, batchedRead, openDatabase, QueryTemplate } from '../packages/db/src/index';
import { cpuMsByCommand, loadAverage } from './lib/process-cpu';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) {
  console.error('set DATABASE_URL (a PostgreSQL server where a scratch database may be created)');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const clientCounts = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number);
if (!(seconds > 0 && seconds <= 60) || clientCounts.some((c) => !Number.isInteger(c) || c < 1 || c > 64)) {
  console.error('BENCH_SECONDS in (0, 60]; BENCH_CLIENTS integers in 1..64');
  process.exit(2);
}
const KEYS = 20_000;

const name = `kfrm_bench_${randomBytes(4).toString('hex')}`;
const admin = (text: string) =>
  execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', databaseUrl, '-c', text], { stdio: 'ignore' });
admin(`create database "${name}"`);
const url = new URL(databaseUrl);
url.pathname = `/${name}`;
const handle = await openDatabase({ databaseUrl: url.toString(), poolMax: 20 });
try {
  const db = handle.kysely() as Kysely<any>;
  await sql`create table credentials (user_id bigint primary key, hash text not null, failures int not null, locked boolean not null)`.execute(
    db,
  );
  await sql`insert into credentials select i, md5(i::text) || md5((i + 1)::text), 0, false from generate_series(1, ${KEYS}) i`.execute(db);
  await sql`analyze credentials`.execute(db);

  type Row = { user_id: string; hash: string; failures: number; locked: boolean };
  const byUsers = new QueryTemplate<{ userIds: string[] }, Row>((kdb, param) =>
    kdb
      .selectFrom('credentials')
      .selectAll()
      .where('user_id', '=', anyOfKeys(param('userIds'), 'bigint')),
  );
  const readMany = async (rdb: Kysely<any>, ids: readonly bigint[]) => {
    statements++;
    const rows = new Map((await byUsers.execute(rdb, { userIds: [...new Set(ids.map(String))] })).map((r) => [r.user_id, r]));
    return ids.map((id) => rows.get(String(id)));
  };
  let statements = 0;
  const modes = {
    'batched (2 in flight)': batchedRead(readMany),
    alone: batchedRead(readMany, { maxInFlight: 64 }),
  };

  const postgresCpu = () => cpuMsByCommand(['postgres']).postgres!;
  const rows: string[] = [];
  // Warm both modes' statement on every connection of the pool.
  for (const read of Object.values(modes)) await Promise.all(Array.from({ length: 64 }, (_, i) => read(db, BigInt(i + 1))));
  for (const clients of clientCounts) {
    for (const round of [1, 2]) {
      for (const [mode, read] of Object.entries(modes)) {
        const load = loadAverage();
        statements = 0;
        let reads = 0;
        let missing = 0;
        const cpu0 = process.cpuUsage();
        const pg0 = postgresCpu();
        const started = performance.now();
        const until = started + seconds * 1000;
        await Promise.all(
          Array.from({ length: clients }, async () => {
            while (performance.now() < until) {
              const id = BigInt(1 + Math.floor(Math.random() * KEYS));
              const row = await read(db, id);
              if (row?.user_id !== String(id)) missing++;
              reads++;
            }
          }),
        );
        const elapsed = (performance.now() - started) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const pgMs = postgresCpu() - pg0;
        if (missing > 0) throw new Error(`${missing} reads answered the wrong row`);
        rows.push(
          `| ${clients} | ${round} | ${mode} | ${(reads / elapsed).toFixed(0)} | ${(statements / reads).toFixed(3)} | ${((cpu.user + cpu.system) / reads).toFixed(1)} | ${((pgMs * 1000) / reads).toFixed(1)} | ${load} |`,
        );
      }
    }
  }
  console.log(
    `reads by primary key of ${KEYS} rows, ${seconds} s per row, pool of 20; CPU µs per read (this process: callers and pool; PostgreSQL: /proc)`,
  );
  console.log(
    '| clients | round | mode | reads/s | statements per read | CPU µs per read, this process | CPU µs per read, PostgreSQL | load avg |',
  );
  console.log('|---:|---:|---|---:|---:|---:|---:|---|');
  for (const row of rows) console.log(row);
} finally {
  await handle.close();
  admin(`drop database "${name}"`);
}

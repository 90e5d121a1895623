// What batching a write by key saves (ADR 0027), measured on the stack the services use: a
// QueryTemplate (named statement, kysely, pg pool) updating one row by primary key with a guard,
// as the services' marks do. Three modes:
// - "simple, alone": the one-row statement (`update … where id = $1 and …`), as many statements
//   in flight as callers (every write alone, as before ADR 0027);
// - "unnest, alone": the batched statement's form (`update … from unnest(…)`) with one row each,
//   as many in flight as callers: what the batched form costs when nothing shares it;
// - "batched (2 in flight)": `batchedWrite` with its defaults (a write that meets none goes as the
//   one-row statement).
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/write-batches.ts
//
// Closed loops of C callers (BENCH_CLIENTS, default 1,16,64), each writing a random key of 20,000
// and awaiting it before the next, for BENCH_SECONDS (default 5) per row, the modes alternating
// twice. Prints writes per second, statements per write, and CPU µs per write of this process (the
// caller and the pool) and of PostgreSQL (/proc, every postgres process), with `uptime`.
// synchronous_commit is the server's (on by default): every statement outside a transaction
// waits for its WAL flush.
import './lib/bench-limits';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { batchedWrite, hiddenArray, openDatabase, QueryTemplate } from '../packages/db/src/index';
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
  await sql`create table counters (id bigint primary key, value bigint not null, updated_at timestamptz)`.execute(db);
  await sql`insert into counters select i, 0, null from generate_series(1, ${KEYS}) i`.execute(db);
  await sql`analyze counters`.execute(db);

  type Write = { id: string; now: Date };
  // The guard is always true here (value never goes below 0): every write changes its row.
  const simple = new QueryTemplate<{ id: string; now: Date }, { id: string }>(
    (_kdb, param) => sql<{ id: string }>`
      update counters set value = value + 1, updated_at = ${param('now')}
      where id = ${param('id')} and value >= 0 returning id`,
  );
  const many = new QueryTemplate<{ ids: string[]; nows: Date[] }, { id: string }>(
    (_kdb, param) => sql<{ id: string }>`
      update counters as c set value = c.value + 1, updated_at = v.now
      from unnest(${hiddenArray(param('ids'), 'bigint')}, ${hiddenArray(param('nows'), 'timestamptz')}) as v(id, now)
      where c.id = v.id and c.value >= 0 returning c.id`,
  );
  let statements = 0;
  const writeMany = async (wdb: Kysely<any>, asked: readonly Write[]) => {
    statements++;
    const written = new Set((await many.execute(wdb, { ids: asked.map((w) => w.id), nows: asked.map((w) => w.now) })).map((r) => r.id));
    return asked.map((w) => written.has(w.id));
  };
  const writeOne = async (wdb: Kysely<any>, w: Write) => {
    statements++;
    return (await simple.execute(wdb, w)).length === 1;
  };
  const modes: Record<string, (wdb: Kysely<any>, w: Write) => Promise<boolean>> = {
    'simple, alone': writeOne,
    // The batched form even for one write (batchedWrite sends a lone write as the simple statement).
    'unnest, alone': batchedWrite({ one: async (wdb, w) => (await writeMany(wdb, [w]))[0]!, many: writeMany }, (w) => w.id, {
      maxInFlight: 64,
    }),
    'batched (2 in flight)': batchedWrite({ one: writeOne, many: writeMany }, (w) => w.id),
  };

  const postgresCpu = () => cpuMsByCommand(['postgres']).postgres!;
  const rows: string[] = [];
  // Warm both modes' statement on every connection of the pool.
  for (const write of Object.values(modes))
    await Promise.all(Array.from({ length: 64 }, (_, i) => write(db, { id: String(i + 1), now: new Date() })));
  for (const clients of clientCounts) {
    for (const round of [1, 2]) {
      for (const [mode, write] of Object.entries(modes)) {
        const load = loadAverage();
        statements = 0;
        let writes = 0;
        let missing = 0;
        const cpu0 = process.cpuUsage();
        const pg0 = postgresCpu();
        const started = performance.now();
        const until = started + seconds * 1000;
        await Promise.all(
          Array.from({ length: clients }, async () => {
            while (performance.now() < until) {
              const id = String(1 + Math.floor(Math.random() * KEYS));
              if (!(await write(db, { id, now: new Date() }))) missing++;
              writes++;
            }
          }),
        );
        const elapsed = (performance.now() - started) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const pgMs = postgresCpu() - pg0;
        if (missing > 0) throw new Error(`${missing} writes were not applied`);
        rows.push(
          `| ${clients} | ${round} | ${mode} | ${(writes / elapsed).toFixed(0)} | ${(statements / writes).toFixed(3)} | ${((cpu.user + cpu.system) / writes).toFixed(1)} | ${((pgMs * 1000) / writes).toFixed(1)} | ${load} |`,
        );
      }
    }
  }
  console.log(
    `guarded updates by primary key of ${KEYS} rows, ${seconds} s per row, pool of 20; CPU µs per write (this process: callers and pool; PostgreSQL: /proc)`,
  );
  console.log(
    '| clients | round | mode | writes/s | statements per write | CPU µs per write, this process | CPU µs per write, PostgreSQL | load avg |',
  );
  console.log('|---:|---:|---|---:|---:|---:|---:|---|');
  for (const row of rows) console.log(row);
} finally {
  await handle.close();
  admin(`drop database "${name}"`);
}

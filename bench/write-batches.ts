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
import { type Kysely, sql } from 'kysely';
import { batchedWrite, hiddenArray, QueryTemplate } from '../packages/db/src/index';
import { compareModesByKey, KEYS } from './lib/modes-by-key';

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

await compareModesByKey({
  operation: 'write',
  heading: 'guarded updates by primary key, each committed on its own',
  setUp: async (db) => {
    await sql`create table counters (id bigint primary key, value bigint not null, updated_at timestamptz)`.execute(db);
    await sql`insert into counters select i, 0, null from generate_series(1, ${KEYS}) i`.execute(db);
    await sql`analyze counters`.execute(db);
  },
  modes: (statements) => {
    const writeOne = async (wdb: Kysely<any>, w: Write) => {
      statements.count++;
      return (await simple.execute(wdb, w)).length === 1;
    };
    const writeMany = async (wdb: Kysely<any>, asked: readonly Write[]) => {
      statements.count++;
      const rows = await many.execute(wdb, { ids: asked.map((w) => w.id), nows: asked.map((w) => w.now) });
      const written = new Set(rows.map((r) => r.id));
      return asked.map((w) => written.has(w.id));
    };
    // The batched form even for one write (batchedWrite sends a lone write as the one-row statement).
    const unnestAlone = batchedWrite({ one: async (wdb, w) => (await writeMany(wdb, [w]))[0]!, many: writeMany }, (w) => w.id, {
      maxInFlight: 64,
    });
    const batched = batchedWrite({ one: writeOne, many: writeMany }, (w) => w.id);
    const write = (run: (db: Kysely<any>, w: Write) => Promise<boolean>) => (db: Kysely<any>, id: number) =>
      run(db, { id: String(id), now: new Date() });
    return {
      'simple, alone': write(writeOne),
      'unnest, alone': write(unnestAlone),
      'batched (2 in flight)': write(batched),
    };
  },
});

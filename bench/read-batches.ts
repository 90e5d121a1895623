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
import { type Kysely, sql } from 'kysely';
import { anyOfKeys, batchedRead, QueryTemplate } from '../packages/db/src/index';
import { compareModesByKey, KEYS } from './lib/modes-by-key';

type Row = { user_id: string; hash: string; failures: number; locked: boolean };
const byUsers = new QueryTemplate<{ userIds: string[] }, Row>((kdb, param) =>
  kdb
    .selectFrom('credentials')
    .selectAll()
    .where('user_id', '=', anyOfKeys(param('userIds'), 'bigint')),
);

await compareModesByKey({
  operation: 'read',
  heading: 'reads by primary key',
  setUp: async (db) => {
    await sql`create table credentials (user_id bigint primary key, hash text not null, failures int not null, locked boolean not null)`.execute(
      db,
    );
    await sql`insert into credentials select i, md5(i::text) || md5((i + 1)::text), 0, false from generate_series(1, ${KEYS}) i`.execute(
      db,
    );
    await sql`analyze credentials`.execute(db);
  },
  modes: (statements) => {
    const readMany = async (rdb: Kysely<any>, ids: readonly number[]) => {
      statements.count++;
      const rows = new Map((await byUsers.execute(rdb, { userIds: [...new Set(ids.map(String))] })).map((r) => [r.user_id, r]));
      return ids.map((id) => rows.get(String(id)));
    };
    const batched = batchedRead(readMany);
    const alone = batchedRead(readMany, { maxInFlight: 64 });
    return {
      'batched (2 in flight)': async (db, id) => (await batched(db, id))?.user_id === String(id),
      alone: async (db, id) => (await alone(db, id))?.user_id === String(id),
    };
  },
});

import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from './database';
import { bothDialects } from './testing/dialects.harness';
import { QueryTemplate } from './query-template';
import { StatementBatcher } from './statement-batcher';
import { batchedWrite, failedOnItsRows } from './write-batcher';

/** A writer whose statements the test answers by hand. Requests are `key:value`. */
function manualWriter() {
  const calls: { requests: string[]; answer: (outcomes?: string[]) => void; fail: (err: unknown) => void }[] = [];
  const writeMany = (requests: readonly string[]) =>
    new Promise<readonly string[]>((resolve, reject) =>
      calls.push({ requests: [...requests], answer: (outcomes) => resolve(outcomes ?? requests.map((r) => `wrote ${r}`)), fail: reject }),
    );
  return { calls, writeMany };
}

const settle = () => new Promise((r) => setImmediate(r));
const keyOf = (request: string) => request.split(':')[0]!;
/** What pg-protocol's DatabaseError carries. */
const pgError = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code, severity: 'ERROR' });

describe('StatementBatcher with keys (writes)', () => {
  it('never sends two writes of one key together nor at once: the later waits, in order', async () => {
    const { calls, writeMany } = manualWriter();
    const batcher = new StatementBatcher(writeMany, { maxInFlight: 2 }, { keyOf });
    const writes = ['a:1', 'a:2', 'b:1', 'a:3', 'c:1', 'b:2'].map((r) => batcher.run(r));
    // a:1 starts at once; a:2 must wait for it though a slot is free, so b:1 takes that slot.
    expect(calls.map((c) => c.requests)).toEqual([['a:1'], ['b:1']]);
    calls[1]!.answer();
    await settle();
    // b is free again, a is not: c:1 and b:2 go together, a:2 and a:3 keep waiting.
    expect(calls.map((c) => c.requests)).toEqual([['a:1'], ['b:1'], ['c:1', 'b:2']]);
    calls[0]!.answer();
    await settle();
    expect(calls[3]!.requests).toEqual(['a:2']);
    calls[2]!.answer();
    calls[3]!.answer();
    await settle();
    expect(calls[4]!.requests).toEqual(['a:3']);
    calls[4]!.answer();
    expect(await Promise.all(writes)).toEqual(['a:1', 'a:2', 'b:1', 'a:3', 'c:1', 'b:2'].map((r) => `wrote ${r}`));
  });

  it('sends each write of a batch again on its own after an error on its rows, so only the offender fails', async () => {
    const { calls, writeMany } = manualWriter();
    const batcher = new StatementBatcher(writeMany, { maxInFlight: 1 }, { keyOf, retryAloneAfter: failedOnItsRows });
    const first = batcher.run('a:1');
    const writes = Promise.allSettled(['b:1', 'c:1', 'd:1'].map((r) => batcher.run(r)));
    calls[0]!.answer();
    await settle();
    expect(calls[1]!.requests).toEqual(['b:1', 'c:1', 'd:1']);
    const duplicate = pgError('23505');
    calls[1]!.fail(duplicate);
    await settle();
    expect(calls[2]!.requests).toEqual(['b:1']);
    calls[2]!.answer();
    await settle();
    expect(calls[3]!.requests).toEqual(['c:1']);
    calls[3]!.fail(duplicate);
    await settle();
    expect(calls[4]!.requests).toEqual(['d:1']);
    calls[4]!.answer();
    expect(await first).toBe('wrote a:1');
    const outcomes = await writes;
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : o.reason))).toEqual(['wrote b:1', duplicate, 'wrote d:1']);
  });

  it('fails the whole batch, without sending anything again, when the connection or server failed', async () => {
    const { calls, writeMany } = manualWriter();
    const batcher = new StatementBatcher(writeMany, { maxInFlight: 1 }, { keyOf, retryAloneAfter: failedOnItsRows });
    const first = batcher.run('a:1');
    const writes = ['b:1', 'c:1'].map((r) => batcher.run(r));
    calls[0]!.answer();
    await settle();
    // A COMMIT's outcome is unknown after a lost connection: sending the writes again could apply them twice.
    const lost = Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' });
    calls[1]!.fail(lost);
    for (const w of writes) await expect(w).rejects.toBe(lost);
    expect(await first).toBe('wrote a:1');
    expect(calls).toHaveLength(2);
  });

  it("releases a failed batch's keys, so the next writes of those keys go", async () => {
    const { calls, writeMany } = manualWriter();
    const batcher = new StatementBatcher(writeMany, { maxInFlight: 1 }, { keyOf, retryAloneAfter: failedOnItsRows });
    const first = batcher.run('a:1');
    const second = batcher.run('a:2');
    calls[0]!.fail(new Error('gone'));
    await expect(first).rejects.toThrow('gone');
    await settle();
    expect(calls[1]!.requests).toEqual(['a:2']);
    calls[1]!.answer();
    expect(await second).toBe('wrote a:2');
  });
});

describe('failedOnItsRows', () => {
  it('is true for data, integrity, deadlock and serialization errors; false for connection, shutdown, unknown completion and non-database errors', () => {
    expect(['22007', '23505', '23503', '23514', '40P01', '40001'].map((c) => failedOnItsRows(pgError(c)))).toEqual(Array(6).fill(true));
    expect(['08006', '57P01', '57014', '53300', 'XX000', '42P01', '40003'].map((c) => failedOnItsRows(pgError(c)))).toEqual(
      Array(7).fill(false),
    );
    expect(failedOnItsRows(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(false);
    expect(failedOnItsRows(new Error('timeout'))).toBe(false);
  });
});

describe.each(bothDialects())('batchedWrite on %s', (_name, open) => {
  let handle: DatabaseHandle;
  const statements: string[] = [];
  const schema = `wb_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  beforeAll(async () => {
    handle = await open();
    const db = handle.kysely();
    await sql`create schema ${sql.id(schema)}`.execute(db);
    await sql`create table ${sql.id(schema, 'counters')} (id text primary key, value int not null check (value < 100))`.execute(db);
    await sql`insert into ${sql.id(schema, 'counters')} select 'c' || i, 0 from generate_series(1, 20) i`.execute(db);
  });
  afterAll(async () => {
    await sql`drop schema ${sql.id(schema)} cascade`.execute(handle.kysely());
    await handle.close();
  });

  /** The counters' values, in the order of `ids`. */
  const storedValues = async (db: Kysely<any>, ids: string[]): Promise<number[]> => {
    const { rows } = await sql<{ id: string; value: number }>`
      select id, value from ${sql.table(`${schema}.counters`)} where id = any(${ids}::text[])`.execute(db);
    return ids.map((id) => rows.find((r) => r.id === id)?.value ?? Number.NaN);
  };

  // A compare-and-set: value goes from `expected` to `next` only while it is still `expected`.
  type Cas = { id: string; expected: number; next: number };
  const casMany = new QueryTemplate<{ ids: string[]; expected: number[]; next: number[] }, { ord: string; value: number }>(
    (_db, param) => sql<{ ord: string; value: number }>`
      update ${sql.table(`${schema}.counters`)} as c set value = v.next
      from unnest(${param('ids')}::text[], ${param('expected')}::int[], ${param('next')}::int[]) with ordinality as v(id, expected, next, ord)
      where c.id = v.id and c.value = v.expected
      returning v.ord, c.value`,
  );
  const casOne = new QueryTemplate<Cas, { value: number }>(
    (_db, param) => sql<{ value: number }>`
      update ${sql.table(`${schema}.counters`)} set value = ${param('next')}
      where id = ${param('id')} and value = ${param('expected')}
      returning value`,
  );
  const compareAndSet = batchedWrite(
    {
      one: async (db: Kysely<any>, cas: Cas) => {
        statements.push('one');
        return (await casOne.execute(db, cas))[0]?.value;
      },
      many: async (db: Kysely<any>, asked: readonly Cas[]) => {
        statements.push(`batch of ${asked.length}`);
        const rows = await casMany.execute(db, {
          ids: asked.map((a) => a.id),
          expected: asked.map((a) => a.expected),
          next: asked.map((a) => a.next),
        });
        const byOrd = new Map(rows.map((r) => [Number(r.ord), r.value]));
        return asked.map((_a, i) => byOrd.get(i + 1));
      },
    },
    (cas) => cas.id,
    { maxInFlight: 1 },
  );

  it('writes concurrent compare-and-sets in fewer statements, each seeing the write of its key before it', async () => {
    const db = handle.kysely(schema);
    statements.length = 0;
    const writes: Cas[] = [
      { id: 'c1', expected: 0, next: 1 },
      { id: 'c2', expected: 0, next: 5 },
      { id: 'c3', expected: 0, next: 7 },
      // After c2's first write (0 → 5), as alone: the second applies, the third does not.
      { id: 'c2', expected: 5, next: 6 },
      { id: 'c2', expected: 5, next: 9 },
      { id: 'c4', expected: 3, next: 4 },
      { id: 'c5', expected: 0, next: 2 },
    ];
    const outcomes = await Promise.all(writes.map((w) => compareAndSet(db, w)));
    expect(outcomes).toEqual([1, 5, 7, 6, undefined, undefined, 2]);
    expect(await storedValues(db, ['c1', 'c2', 'c3', 'c4', 'c5'])).toEqual([1, 6, 7, 0, 2]);
    // The first found the slot free and went alone, as the one-row statement; the rest met.
    expect(statements[0]).toBe('one');
    expect(statements.length).toBeLessThan(writes.length);
  });

  it('fails only the write that breaks a constraint; the others of its batch are written', async () => {
    const db = handle.kysely(schema);
    statements.length = 0;
    const writes: Cas[] = [
      { id: 'c10', expected: 0, next: 1 },
      { id: 'c11', expected: 0, next: 2 },
      { id: 'c12', expected: 0, next: 500 },
      { id: 'c13', expected: 0, next: 3 },
    ];
    const outcomes = await Promise.allSettled(writes.map((w) => compareAndSet(db, w)));
    expect(outcomes.map((o) => (o.status === 'fulfilled' ? o.value : 'refused'))).toEqual([1, 2, 'refused', 3]);
    const refused = outcomes[2] as PromiseRejectedResult;
    expect(refused.reason).toMatchObject({ code: '23514' });
    // The first went alone at once; the other three went together, failed on c12, and were sent again one by one.
    expect(statements).toEqual(['one', 'batch of 3', 'one', 'one', 'one']);
    expect(await storedValues(db, ['c10', 'c11', 'c12', 'c13'])).toEqual([1, 2, 0, 3]);
  });

  it('writes inside a transaction on the transaction, on its own', async () => {
    const db = handle.kysely(schema);
    statements.length = 0;
    await expect(
      db.transaction().execute(async (trx) => {
        expect(await compareAndSet(trx, { id: 'c20', expected: 0, next: 8 })).toBe(8);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(statements).toEqual(['one']);
    expect(await compareAndSet(db, { id: 'c20', expected: 0, next: 9 })).toBe(9);
  });
});

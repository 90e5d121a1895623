import { type Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from './database';
import { bothDialects } from './testing/dialects.harness';
import { QueryTemplate } from './query-template';
import { anyOfKeys } from './batch-arrays';
import { answerEach, batchedRead } from './read-batcher';
import { StatementBatcher } from './statement-batcher';

/** A reader whose statements the test answers by hand, in any order. */
function manualReader() {
  const calls: { requests: string[]; answer: (rows?: (string | undefined)[]) => void; fail: (err: unknown) => void }[] = [];
  const readMany = (requests: readonly string[]) =>
    new Promise<readonly (string | undefined)[]>((resolve, reject) =>
      calls.push({
        requests: [...requests],
        answer: (rows) => resolve(rows ?? requests.map((r) => `row of ${r}`)),
        fail: reject,
      }),
    );
  return { calls, readMany };
}

const settle = () => new Promise((r) => setImmediate(r));

describe('StatementBatcher, as batchedRead uses it (no keys)', () => {
  it('starts a read at once while a slot is free: an idle reader adds no wait', async () => {
    const { calls, readMany } = manualReader();
    const batcher = new StatementBatcher(readMany, { maxInFlight: 2 });
    const first = batcher.run('a');
    expect(calls.map((c) => c.requests)).toEqual([['a']]);
    const second = batcher.run('b');
    expect(calls.map((c) => c.requests)).toEqual([['a'], ['b']]);
    calls[0]!.answer();
    calls[1]!.answer();
    expect(await first).toBe('row of a');
    expect(await second).toBe('row of b');
  });

  it('queues while every slot is busy and sends the queue as one statement when a slot frees', async () => {
    const { calls, readMany } = manualReader();
    const batcher = new StatementBatcher(readMany, { maxInFlight: 1 });
    const reads = ['a', 'b', 'c', 'd'].map((k) => batcher.run(k));
    expect(calls.map((c) => c.requests)).toEqual([['a']]);
    calls[0]!.answer();
    await settle();
    expect(calls.map((c) => c.requests)).toEqual([['a'], ['b', 'c', 'd']]);
    calls[1]!.answer(['B', undefined, 'D']);
    expect(await Promise.all(reads)).toEqual(['row of a', 'B', undefined, 'D']);
  });

  it('keeps a batch to maxBatch requests and the rest for the next free slot', async () => {
    const { calls, readMany } = manualReader();
    const batcher = new StatementBatcher(readMany, { maxInFlight: 1, maxBatch: 2 });
    const reads = ['a', 'b', 'c', 'd', 'e'].map((k) => batcher.run(k));
    calls[0]!.answer();
    await settle();
    expect(calls[1]!.requests).toEqual(['b', 'c']);
    calls[1]!.answer();
    await settle();
    expect(calls[2]!.requests).toEqual(['d', 'e']);
    calls[2]!.answer();
    expect(await Promise.all(reads)).toEqual(['a', 'b', 'c', 'd', 'e'].map((k) => `row of ${k}`));
  });

  it('asks twice for a key asked twice: each request has its own answer', async () => {
    const { calls, readMany } = manualReader();
    const batcher = new StatementBatcher(readMany, { maxInFlight: 1 });
    const reads = ['a', 'x', 'x'].map((k) => batcher.run(k));
    calls[0]!.answer();
    await settle();
    expect(calls[1]!.requests).toEqual(['x', 'x']);
    calls[1]!.answer(['x1', 'x2']);
    expect(await Promise.all(reads)).toEqual(['row of a', 'x1', 'x2']);
  });

  it('fails every request of a failed statement with its error, and goes on with the next', async () => {
    const { calls, readMany } = manualReader();
    const batcher = new StatementBatcher(readMany, { maxInFlight: 1 });
    const a = batcher.run('a');
    const b = batcher.run('b');
    const c = batcher.run('c');
    const boom = new Error('connection lost');
    calls[0]!.fail(boom);
    await expect(a).rejects.toBe(boom);
    await settle();
    calls[1]!.fail(boom);
    await expect(b).rejects.toBe(boom);
    await expect(c).rejects.toBe(boom);
    const d = batcher.run('d');
    calls[2]!.answer();
    expect(await d).toBe('row of d');
  });

  it('fails a batch whose answer does not have a row per request, rather than hand out wrong rows', async () => {
    const { calls, readMany } = manualReader();
    const batcher = new StatementBatcher(readMany, { maxInFlight: 1 });
    const a = batcher.run('a');
    calls[0]!.answer(['one', 'two']);
    await expect(a).rejects.toThrow(/answered 2 rows for 1 requests/);
  });

  it('fails the requests of a reader that throws instead of answering, and frees its slot', async () => {
    let throwNext = true;
    const batcher = new StatementBatcher(async (requests: readonly string[]) => {
      if (throwNext) {
        throwNext = false;
        throw new Error('bad statement');
      }
      return requests.map((r) => r.toUpperCase());
    });
    await expect(batcher.run('a')).rejects.toThrow('bad statement');
    expect(await batcher.run('b')).toBe('B');
  });

  it('refuses options that would stall it', () => {
    const read = async () => [];
    expect(() => new StatementBatcher(read, { maxBatch: 0 })).toThrow(RangeError);
    expect(() => new StatementBatcher(read, { maxInFlight: 1.5 })).toThrow(RangeError);
  });
});

describe('answerEach', () => {
  it('answers each request with the row of its key, undefined without one, each in a copy of its own', () => {
    const rows: [string, { v: number }][] = [
      ['a', { v: 1 }],
      ['b', { v: 2 }],
    ];
    const answers = answerEach(['b', 'x', 'a', 'b'], (k) => k, rows);
    expect(answers).toEqual([{ v: 2 }, undefined, { v: 1 }, { v: 2 }]);
    expect(answers[0]).not.toBe(answers[3]);
    expect(answers[0]).not.toBe(rows[1]![1]);
  });
});

describe.each(bothDialects())('batchedRead on %s', (_name, open) => {
  let handle: DatabaseHandle;
  const statements: string[] = [];
  const schema = `rb_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  beforeAll(async () => {
    handle = await open();
    const db = handle.kysely();
    await sql`create schema ${sql.id(schema)}`.execute(db);
    await sql`create table ${sql.id(schema, 'items')} (id int primary key, name text not null)`.execute(db);
    await sql`insert into ${sql.id(schema, 'items')} select i, 'item ' || i from generate_series(1, 50) i`.execute(db);
  });
  afterAll(async () => {
    await sql`drop schema ${sql.id(schema)} cascade`.execute(handle.kysely());
    await handle.close();
  });

  type Row = { id: number; name: string };
  const itemsByIds = new QueryTemplate<{ ids: number[] }, Row>((db, param) =>
    db
      .selectFrom('items')
      .select(['id', 'name'])
      .where('id', '=', anyOfKeys<number>(param('ids'), 'bigint')),
  );
  const findItem = batchedRead(
    async (db: Kysely<any>, ids: readonly number[]) => {
      statements.push(`batch of ${ids.length}`);
      const rows = new Map((await itemsByIds.execute(db, { ids: [...ids] })).map((r) => [r.id, r]));
      return ids.map((id) => rows.get(id));
    },
    { maxInFlight: 1 },
  );

  it('answers concurrent reads, found or not, each with its own row, in fewer statements', async () => {
    const db = handle.kysely(schema);
    statements.length = 0;
    const ids = [3, 70, 3, 12, 50, 0, 49, 1];
    const rows = await Promise.all(ids.map((id) => findItem(db, id)));
    expect(rows.map((r) => r?.name)).toEqual(['item 3', undefined, 'item 3', 'item 12', 'item 50', undefined, 'item 49', 'item 1']);
    expect(statements).toEqual(['batch of 1', 'batch of 7']);
  });

  it('reads inside a transaction on the transaction, on its own', async () => {
    const db = handle.kysely(schema);
    statements.length = 0;
    const name = await db.transaction().execute(async (trx) => {
      await sql`update ${sql.table(`${schema}.items`)} set name = 'renamed' where id = 7`.execute(trx);
      // Uncommitted: only the transaction's own connection sees it.
      return (await findItem(trx, 7))?.name;
    });
    expect(name).toBe('renamed');
    expect(statements).toEqual(['batch of 1']);
    expect((await findItem(db, 7))?.name).toBe('renamed');
  });
});

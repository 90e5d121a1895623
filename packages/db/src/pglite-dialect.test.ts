import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Migration } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from './database';
import { migrateSchema } from './migrations';
import { AsyncMutex } from './pglite-dialect';
import { parseBytea, parseUnquotedArray } from './type-parsers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ledgerMigrations: Record<string, Migration> = {
  '0001_entries': {
    async up(db) {
      await db.schema
        .createTable('entries')
        .addColumn('id', 'int8', (c) => c.primaryKey())
        .addColumn('who', 'text', (c) => c.notNull())
        .execute();
    },
  },
};

describe('PGlite dialect', () => {
  let handle: DatabaseHandle;

  beforeAll(async () => {
    handle = await openDatabase();
    await migrateSchema(handle, { schema: 'ledger', migrations: ledgerMigrations });
  }, 30_000);

  afterAll(async () => {
    await handle?.close();
  });

  it('serialises concurrent transactions: one runs BEGIN..COMMIT before the other starts', async () => {
    const db = handle.kysely('ledger');
    const events: string[] = [];
    const tx = (who: string, firstId: number) =>
      db.transaction().execute(async (trx) => {
        events.push(`${who}:begin`);
        await trx.insertInto('entries').values({ id: firstId, who }).execute();
        await sleep(30); // yield: without exclusivity the other transaction would interleave here
        await trx
          .insertInto('entries')
          .values({ id: firstId + 1, who })
          .execute();
        events.push(`${who}:end`);
      });
    await Promise.all([tx('A', 1), tx('B', 10)]);
    expect(events).toEqual(['A:begin', 'A:end', 'B:begin', 'B:end']);
    expect(await db.selectFrom('entries').select('who').orderBy('id').execute()).toEqual([
      { who: 'A' },
      { who: 'A' },
      { who: 'B' },
      { who: 'B' },
    ]);
  });

  it('a plain query issued during a transaction waits for it and sees only committed data', async () => {
    const db = handle.kysely('ledger');
    let insideTx = false;
    let plainRanInsideTx: boolean | undefined;
    const txDone = db.transaction().execute(async (trx) => {
      insideTx = true;
      await trx.insertInto('entries').values({ id: 100, who: 'tx' }).execute();
      await sleep(30);
      insideTx = false;
      throw new Error('rollback');
    });
    await sleep(5);
    const plain = db
      .selectFrom('entries')
      .select('id')
      .where('id', '=', 100)
      .execute()
      .then((rows) => {
        plainRanInsideTx = insideTx;
        return rows;
      });
    await expect(txDone).rejects.toThrow('rollback');
    expect(await plain).toEqual([]);
    expect(plainRanInsideTx).toBe(false);
  });

  it('a failed query does not poison the connection for the next caller', async () => {
    const db = handle.kysely();
    await expect(sql`select * from nope`.execute(db)).rejects.toMatchObject({ code: '42P01' });
    await expect(db.transaction().execute(async (trx) => void (await sql`select 1/0`.execute(trx)))).rejects.toMatchObject({
      code: '22012',
    });
    expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
  });

  it('runs several statements in one parameterless raw query (like pg simple protocol)', async () => {
    const db = handle.kysely();
    const r = await sql<{ x: number }>`create temp table multi (x int4); insert into multi values (7); select x from multi`.execute(db);
    expect(r.rows).toEqual([{ x: 7 }]);
  });

  it('streams in chunks', async () => {
    const db = handle.kysely();
    const streamed: number[] = [];
    for await (const row of db.selectFrom(sql<{ n: number }>`generate_series(1, 250)`.as('g')).select(sql<number>`g`.as('n')).stream(100)) {
      streamed.push(row.n);
    }
    expect(streamed).toHaveLength(250);
  });
});

describe('PGlite persistence', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kfrm-pglite-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps data in dataDir across close and reopen, and refuses a second open of the same dir', async () => {
    const dataDir = join(dir, 'nested', 'data');
    const first = await openDatabase({ dataDir });
    expect(first.kind).toBe('pglite');
    await migrateSchema(first, { schema: 'ledger', migrations: ledgerMigrations });
    await first.kysely('ledger').insertInto('entries').values({ id: '9007199254740993', who: 'persisted' }).execute();
    await expect(openDatabase({ dataDir })).rejects.toThrow(/already open/);
    await first.close();
    await first.close();

    const second = await openDatabase({ dataDir });
    try {
      expect((await migrateSchema(second, { schema: 'ledger', migrations: ledgerMigrations })).executed).toEqual([]);
      expect(await second.kysely('ledger').selectFrom('entries').selectAll().execute()).toEqual([
        { id: '9007199254740993', who: 'persisted' },
      ]);
    } finally {
      await second.close();
    }
  }, 60_000);
});

describe('helpers', () => {
  it('AsyncMutex is FIFO and release is idempotent', async () => {
    const m = new AsyncMutex();
    const order: number[] = [];
    const r1 = await m.lock();
    const p2 = m.lock().then((r) => (order.push(2), r));
    const p3 = m.lock().then((r) => (order.push(3), r));
    r1();
    r1();
    const r2 = await p2;
    expect(order).toEqual([2]);
    r2();
    (await p3)();
    expect(order).toEqual([2, 3]);
    expect(m.locked).toBe(false);
  });

  it('parses int8/numeric array text and bytea', () => {
    expect(parseUnquotedArray('{}')).toEqual([]);
    expect(parseUnquotedArray('{1,NULL,-9223372036854775808}')).toEqual(['1', null, '-9223372036854775808']);
    expect(parseUnquotedArray('{{1,2},{3,4}}')).toEqual([
      ['1', '2'],
      ['3', '4'],
    ]);
    expect(parseUnquotedArray('[0:1]={5,6}')).toEqual(['5', '6']);
    expect(parseBytea('\\x00ff')).toEqual(Buffer.from([0, 255]));
    expect(parseBytea('a\\\\b\\001')).toEqual(Buffer.from([0x61, 0x5c, 0x62, 1]));
  });
});

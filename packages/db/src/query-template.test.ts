import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseHandle } from './database';
import { bothDialects } from './testing/dialects.harness';
import { QueryTemplate } from './query-template';

describe.each(bothDialects())('QueryTemplate on %s', (_name, open) => {
  let handle: DatabaseHandle;
  const schema = `qt_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  beforeAll(async () => {
    handle = await open();
    const db = handle.kysely();
    await sql`create schema ${sql.id(schema)}`.execute(db);
    await sql`create table ${sql.id(schema, 'items')} (id int primary key, name text not null, kind text not null)`.execute(db);
    await sql`insert into ${sql.id(schema, 'items')} values (1, 'a', 'x'), (2, 'b', 'x'), (3, 'c', 'y')`.execute(db);
  });
  afterAll(async () => {
    await sql`drop schema ${sql.id(schema)} cascade`.execute(handle.kysely());
    await handle.close();
  });

  const byKind = new QueryTemplate<{ kind: string; limit: number }, { id: number; name: string }>((db, param) =>
    db.selectFrom('items').select(['id', 'name']).where('kind', '=', param('kind')).where('id', '>', 0).orderBy('id').limit(param('limit')),
  );

  it('answers each call with its own parameters, constants kept in place', async () => {
    const db = handle.kysely(schema);
    expect(await byKind.execute(db, { kind: 'x', limit: 10 })).toEqual([
      { id: 1, name: 'a' },
      { id: 2, name: 'b' },
    ]);
    expect(await byKind.execute(db, { kind: 'y', limit: 10 })).toEqual([{ id: 3, name: 'c' }]);
    expect(await byKind.executeTakeFirst(db, { kind: 'x', limit: 1 })).toEqual({ id: 1, name: 'a' });
    expect(await byKind.executeTakeFirst(db, { kind: 'z', limit: 1 })).toBeUndefined();
  });

  it('compiles per instance: another schema is another query', async () => {
    await expect(byKind.execute(handle.kysely('public'), { kind: 'x', limit: 1 })).rejects.toThrow(/items/);
  });

  it('compiles once for a database and all its transactions, not per transaction', async () => {
    let compiles = 0;
    const counted = new QueryTemplate<{ kind: string }, { id: number }>((db, param) => {
      compiles++;
      return db.selectFrom('items').select('id').where('kind', '=', param('kind')).orderBy('id');
    });
    const db = handle.kysely(schema);
    expect(await counted.execute(db, { kind: 'y' })).toEqual([{ id: 3 }]);
    for (const kind of ['x', 'y']) {
      const rows = await db.transaction().execute((trx) => counted.execute(trx, { kind }));
      expect(rows).toEqual(kind === 'x' ? [{ id: 1 }, { id: 2 }] : [{ id: 3 }]);
    }
    expect(compiles).toBe(1);
    // A transaction first, then the root: still the same compiled query.
    let trxFirst = 0;
    const other = new QueryTemplate<{ id: number }, { name: string }>((db, param) => {
      trxFirst++;
      return db.selectFrom('items').select('name').where('id', '=', param('id'));
    });
    await db.transaction().execute((trx) => other.execute(trx, { id: 1 }));
    await db.transaction().execute((trx) => other.execute(trx, { id: 2 }));
    expect(await other.executeTakeFirst(db, { id: 1 })).toEqual({ name: 'a' });
    expect(trxFirst).toBe(1);
  });

  it('does not share a compiled query between different plugin lists of one database', async () => {
    const other = `${schema}_b`;
    const root = handle.kysely();
    await sql`create schema ${sql.id(other)}`.execute(root);
    try {
      await sql`create table ${sql.id(other, 'items')} (id int primary key, name text not null, kind text not null)`.execute(root);
      await sql`insert into ${sql.id(other, 'items')} values (7, 'z', 'x')`.execute(root);
      let compiles = 0;
      const names = new QueryTemplate<{ kind: string }, { name: string }>((db, param) => {
        compiles++;
        return db.selectFrom('items').select('name').where('kind', '=', param('kind')).orderBy('id');
      });
      const a = handle.kysely(schema);
      const b = handle.kysely(other);
      expect(await names.execute(a, { kind: 'x' })).toEqual([{ name: 'a' }, { name: 'b' }]);
      expect(await names.execute(b, { kind: 'x' })).toEqual([{ name: 'z' }]);
      expect(await b.transaction().execute((trx) => names.execute(trx, { kind: 'x' }))).toEqual([{ name: 'z' }]);
      expect(await a.transaction().execute((trx) => names.execute(trx, { kind: 'x' }))).toEqual([{ name: 'a' }, { name: 'b' }]);
      // Same schema, but another plugin object (a second withSchema): compiled for itself.
      expect(await names.execute(root.withSchema(schema), { kind: 'y' })).toEqual([{ name: 'c' }]);
      // A plugin added to a transaction is part of its list, too.
      expect(await root.transaction().execute((trx) => names.execute(trx.withSchema(other), { kind: 'x' }))).toEqual([{ name: 'z' }]);
      expect(compiles).toBe(4);
    } finally {
      await sql`drop schema ${sql.id(other)} cascade`.execute(root);
    }
  });

  it('takes a list as one array parameter (= any), and raw sql with placeholders', async () => {
    const byIds = QueryTemplate.of<{ items: { id: number; name: string; kind: string } }, { ids: number[] }>()((db, param) =>
      db
        .selectFrom('items')
        .select(['id', 'name'])
        .where('id', '=', sql<number>`any(${param('ids')}::int[])`)
        .orderBy('id'),
    );
    const db = handle.kysely(schema);
    expect(await byIds.execute(db, { ids: [3, 1, 99] })).toEqual([
      { id: 1, name: 'a' },
      { id: 3, name: 'c' },
    ]);
    expect(await byIds.execute(db, { ids: [] })).toEqual([]);
    const raw = new QueryTemplate<{ kind: string; suffix: string }, { name: string }>(
      (_db, param) =>
        sql<{
          name: string;
        }>`select name || ${param('suffix')} as name from ${sql.table(`${schema}.items`)} where kind = ${param('kind')} order by id`,
    );
    expect(await raw.execute(db, { kind: 'x', suffix: '!' })).toEqual([{ name: 'a!' }, { name: 'b!' }]);
    expect(await db.transaction().execute((trx) => raw.execute(trx, { kind: 'y', suffix: '?' }))).toEqual([{ name: 'c?' }]);
  });

  it('refuses a placeholder that does not end up a parameter of the query', async () => {
    const wrong = new QueryTemplate<{ name: string }, { id: number }>((db, param) => {
      param('name');
      return db.selectFrom('items').select('id');
    });
    await expect(wrong.execute(handle.kysely(schema), { name: 'a' })).rejects.toThrow(/not a parameter/);
  });

  it('counts affected rows of a templated update (the dialect still knows it is DML)', async () => {
    const rename = new QueryTemplate<{ id: number; name: string }, never>((db, param) =>
      db
        .updateTable('items')
        .set({ name: param('name') })
        .where('id', '=', param('id')),
    );
    const db = handle.kysely(schema);
    expect((await rename.executeResult(db, { id: 3, name: 'cc' })).numAffectedRows).toBe(1n);
    expect((await rename.executeResult(db, { id: 99, name: 'zz' })).numAffectedRows).toBe(0n);
  });
});

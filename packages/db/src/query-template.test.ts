import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from './database';
import { QueryTemplate } from './query-template';

// Both dialects: the embedded PGlite, and PostgreSQL when DATABASE_URL is set (as in CI).
const targets: [string, () => Promise<DatabaseHandle>][] = [['pglite', () => openDatabase({})]];
if (process.env.DATABASE_URL) targets.push(['postgres', () => openDatabase({ databaseUrl: process.env.DATABASE_URL })]);

describe.each(targets)('QueryTemplate on %s', (_name, open) => {
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

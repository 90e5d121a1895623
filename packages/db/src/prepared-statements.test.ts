import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from './database';
import { DatabaseUnavailableError } from './errors';
import { QueryTemplate } from './query-template';

// Named statements only exist on PostgreSQL (PGlite runs every statement as before).
const databaseUrl = process.env.DATABASE_URL;

describe.skipIf(!databaseUrl)('QueryTemplate statements on PostgreSQL are prepared once per connection', () => {
  let handle: DatabaseHandle;
  let admin: pg.Client;
  const schema = `ps_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  const appName = `kfrm-ps-test-${process.pid}`;

  beforeAll(async () => {
    // One connection, so every statement below runs on the connection that prepared it.
    handle = await openDatabase({ databaseUrl, poolMax: 1, applicationName: appName });
    admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    const db = handle.kysely();
    await sql`create schema ${sql.id(schema)}`.execute(db);
    await sql`create table ${sql.id(schema, 'items')} (id int primary key, name text not null)`.execute(db);
    await sql`insert into ${sql.id(schema, 'items')} values (1, 'a'), (2, 'b')`.execute(db);
  });
  afterAll(async () => {
    await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(handle.kysely());
    await handle.close();
    await admin.end();
  });

  const everyColumn = new QueryTemplate<{ id: number }, Record<string, unknown>>((db, param) =>
    db.selectFrom('items').selectAll().where('id', '=', param('id')),
  );

  /** The statements the backend's connection holds (pg_prepared_statements is per session). */
  async function preparedOnConnection(db = handle.kysely()): Promise<string[]> {
    const { rows } = await sql<{ name: string }>`select name from pg_prepared_statements where name like 'kfrm_%'`.execute(db);
    return rows.map((r) => r.name);
  }

  it('runs a template as one named statement, reused by later calls', async () => {
    const db = handle.kysely(schema);
    expect(await everyColumn.execute(db, { id: 1 })).toEqual([{ id: 1, name: 'a' }]);
    const after1 = await preparedOnConnection();
    expect(after1).toHaveLength(1);
    expect(await everyColumn.execute(db, { id: 2 })).toEqual([{ id: 2, name: 'b' }]);
    expect(await preparedOnConnection()).toEqual(after1);
    // An ad-hoc query is not named.
    await db.selectFrom('items').select('id').where('id', 'in', [1, 2]).execute();
    expect(await preparedOnConnection()).toEqual(after1);
  });

  it('keeps answering when a migration adds a column while it runs (outside a transaction: retried at once)', async () => {
    const db = handle.kysely(schema);
    await everyColumn.execute(db, { id: 1 });
    await admin.query(`alter table "${schema}".items add column note text not null default 'n'`);
    expect(await everyColumn.execute(db, { id: 1 })).toEqual([{ id: 1, name: 'a', note: 'n' }]);
    expect(await everyColumn.execute(db, { id: 2 })).toEqual([{ id: 2, name: 'b', note: 'n' }]);
  });

  it('inside a transaction, a statement gone stale fails as retryable and the retry succeeds', async () => {
    const db = handle.kysely(schema);
    await everyColumn.execute(db, { id: 1 });
    await admin.query(`alter table "${schema}".items add column extra int not null default 7`);
    const attempt = () => db.transaction().execute((tx) => everyColumn.execute(tx, { id: 2 }));
    await expect(attempt()).rejects.toBeInstanceOf(DatabaseUnavailableError);
    expect(await attempt()).toEqual([{ id: 2, name: 'b', note: 'n', extra: 7 }]);
  });
});

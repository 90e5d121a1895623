import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { openTestDatabase, withDatabaseName } from './test-database';

const url = process.env.DATABASE_URL;

describe('withDatabaseName', () => {
  it('replaces only the database name', () => {
    expect(withDatabaseName('postgres://u:p@h:5433/postgres?sslmode=disable', 'kfrm_test_1')).toBe(
      'postgres://u:p@h:5433/kfrm_test_1?sslmode=disable',
    );
  });
});

describe('openTestDatabase', () => {
  it('falls back to / can be forced to an in-memory PGlite', async () => {
    const tdb = await openTestDatabase({ backend: 'pglite' });
    try {
      expect(tdb.source).toBe('pglite');
      expect(tdb.kind).toBe('pglite');
      expect(tdb.databaseUrl).toBeUndefined();
    } finally {
      await tdb.close();
    }
  }, 30_000);

  it.skipIf(!url)(
    url
      ? 'creates a fresh database on DATABASE_URL and drops it on close'
      : 'DATABASE_URL database lifecycle (skipped: DATABASE_URL not set)',
    async () => {
      const [a, b] = await Promise.all([openTestDatabase(), openTestDatabase()]);
      const exists = async (name: string) => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          return (await client.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
        } finally {
          await client.end();
        }
      };
      try {
        expect(a.source).toBe('database-url');
        expect(a.databaseName).toMatch(/^kfrm_test_[0-9a-f]{12}$/);
        expect(a.databaseName).not.toBe(b.databaseName);
        const current = await sql<{ d: string }>`select current_database() as d`.execute(a.kysely());
        expect(current.rows[0]!.d).toBe(a.databaseName);
        // Isolation: a table in a is invisible in b.
        await sql`create table only_in_a (x int)`.execute(a.kysely());
        await expect(sql`select * from only_in_a`.execute(b.kysely())).rejects.toMatchObject({ code: '42P01' });
        expect(await exists(a.databaseName!)).toBe(true);
      } finally {
        await a.close();
        await b.close();
      }
      expect(await exists(a.databaseName!)).toBe(false);
      expect(await exists(b.databaseName!)).toBe(false);
      await a.close(); // idempotent
    },
  );
});

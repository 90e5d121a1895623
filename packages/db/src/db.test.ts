/**
 * The same suite against PGlite and against real Postgres (DATABASE_URL, or a testcontainer when
 * Docker is reachable). The Postgres half is skipped, with the reason in its name, otherwise.
 */
import { sql, type Kysely, type KyselyPlugin, type Migration } from 'kysely';
import type { DatabaseHandle } from './database';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from './database';
import { isSerializationFailure, isUniqueViolation, pgErrorCode, TransactionConflictError } from './errors';
import { migrateSchema, migrateSchemas, MigrationError } from './migrations';
import { isDockerReachable, openTestDatabase, type TestDatabase } from './test-database';
import { withSerializableRetry } from './transaction';

const postgresSkipReason = process.env.DATABASE_URL
  ? undefined
  : (await isDockerReachable())
    ? undefined
    : 'DATABASE_URL not set and no Docker engine reachable';

const backends = [
  { name: 'pglite', backend: 'pglite' as const, skip: undefined },
  { name: 'postgres', backend: 'postgres' as const, skip: postgresSkipReason },
];

// Migrations are frozen in time: Kysely<any>, no app types.
const itemsMigrations: Record<string, Migration> = {
  '0001_create_items': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('items')
        .addColumn('id', 'bigserial', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('amount', 'int8', (c) => c.notNull().defaultTo(0))
        .execute();
    },
    async down(db: Kysely<any>) {
      await db.schema.dropTable('items').execute();
    },
  },
  '0002_items_note': {
    async up(db: Kysely<any>) {
      // Raw SQL, unqualified: resolves to the service schema through the migration's search_path.
      await sql`alter table items add column note text; create index items_note_idx on items (note)`.execute(db);
    },
  },
};

for (const b of backends) {
  describe.skipIf(b.skip !== undefined)(b.skip ? `${b.name} (skipped: ${b.skip})` : b.name, () => {
    let tdb: TestDatabase;

    beforeAll(async () => {
      tdb = await openTestDatabase({ backend: b.backend });
    }, 60_000);

    afterAll(async () => {
      await tdb?.close();
    });

    it('opens the expected kind and runs parameterised queries', async () => {
      expect(tdb.kind).toBe(b.name);
      const r = await sql<{ s: string; n: number }>`select ${'hello'}::text as s, ${41}::int4 + 1 as n`.execute(tdb.kysely());
      expect(r.rows).toEqual([{ s: 'hello', n: 42 }]);
    });

    it('runs migrations once; a second run is a no-op', async () => {
      const first = await migrateSchema(tdb, { schema: 'idem', migrations: itemsMigrations });
      expect(first.executed).toEqual(['0001_create_items', '0002_items_note']);
      const second = await migrateSchema(tdb, { schema: 'idem', migrations: itemsMigrations });
      expect(second.executed).toEqual([]);
      const cols = await sql<{ column_name: string }>`
        select column_name from information_schema.columns
        where table_schema = 'idem' and table_name = 'items' order by ordinal_position`.execute(tdb.kysely());
      expect(cols.rows.map((r) => r.column_name)).toEqual(['id', 'name', 'amount', 'note']);
      const idx = await sql`select 1 from pg_indexes where schemaname = 'idem' and indexname = 'items_note_idx'`.execute(tdb.kysely());
      expect(idx.rows).toHaveLength(1);
    });

    it('keeps migration bookkeeping in the service schema', async () => {
      await migrateSchema(tdb, { schema: 'books', migrations: itemsMigrations });
      const tables = await sql<{ table_schema: string; table_name: string }>`
        select table_schema, table_name from information_schema.tables
        where table_name in ('kysely_migration', 'kysely_migration_lock') and table_schema in ('books', 'public')
        order by table_name`.execute(tdb.kysely());
      expect(tables.rows).toEqual([
        { table_schema: 'books', table_name: 'kysely_migration' },
        { table_schema: 'books', table_name: 'kysely_migration_lock' },
      ]);
      const names = await tdb.kysely('books').selectFrom('kysely_migration').select('name').orderBy('name').execute();
      expect(names.map((r) => r.name)).toEqual(['0001_create_items', '0002_items_note']);
    });

    it('isolates services: same table name in two schemas', async () => {
      await migrateSchema(tdb, { schema: 'svc_a', migrations: itemsMigrations });
      await migrateSchema(tdb, { schema: 'svc_b', migrations: itemsMigrations });
      const a = tdb.kysely('svc_a');
      const bdb = tdb.kysely('svc_b');
      await a.insertInto('items').values({ name: 'only-in-a' }).execute();
      expect(await a.selectFrom('items').select('name').execute()).toEqual([{ name: 'only-in-a' }]);
      expect(await bdb.selectFrom('items').select('name').execute()).toEqual([]);
      // Same name allowed in b: separate unique indexes.
      await bdb.insertInto('items').values({ name: 'only-in-a' }).execute();
      const counts = await sql<{ a: string; b: string }>`
        select (select count(*) from svc_a.items) as a, (select count(*) from svc_b.items) as b`.execute(tdb.kysely());
      expect(counts.rows).toEqual([{ a: '1', b: '1' }]);
    });

    it('migrateSchemas checks schemas that are all up to date in one statement (every start does)', async () => {
      const plans = [
        { schema: 'many_a', migrations: itemsMigrations },
        { schema: 'many_b', migrations: itemsMigrations },
        { schema: 'many_c', migrations: itemsMigrations },
      ];
      const first = await migrateSchemas(tdb, plans);
      expect(first.map((r) => r.executed)).toEqual(plans.map(() => ['0001_create_items', '0002_items_note']));
      const counted = countingStatements(tdb);
      const second = await migrateSchemas(counted.handle, plans);
      expect(second.map((r) => r.executed)).toEqual([[], [], []]);
      expect(counted.statements()).toBe(1);
    });

    it('migrateSchemas still applies a migration added to one schema while the others are up to date', async () => {
      const plans = [
        { schema: 'grow_a', migrations: itemsMigrations },
        { schema: 'grow_b', migrations: itemsMigrations },
      ];
      await migrateSchemas(tdb, plans);
      const grown = {
        ...itemsMigrations,
        '0003_items_tag': { up: async (db: Kysely<any>) => void (await db.schema.alterTable('items').addColumn('tag', 'text').execute()) },
      };
      const result = await migrateSchemas(tdb, [plans[0]!, { schema: 'grow_b', migrations: grown }]);
      expect(result.map((r) => r.executed)).toEqual([[], ['0003_items_tag']]);
      const cols = await sql<{ column_name: string }>`
        select column_name from information_schema.columns
        where table_schema = 'grow_b' and table_name = 'items' and column_name = 'tag'`.execute(tdb.kysely());
      expect(cols.rows).toHaveLength(1);
    });

    it('migrateSchemas refuses a database with a migration the code does not know, as migrateSchema does', async () => {
      await migrateSchemas(tdb, [{ schema: 'ahead', migrations: itemsMigrations }]);
      const { '0002_items_note': _dropped, ...older } = itemsMigrations;
      const err = await migrateSchemas(tdb, [{ schema: 'ahead', migrations: older }]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationError);
      expect((err as MigrationError).schema).toBe('ahead');
    });

    it('reports the failed migration by name and rolls back the whole run', async () => {
      const migrations: Record<string, Migration> = {
        '0001_ok': { up: async (db) => void (await db.schema.createTable('t1').addColumn('id', 'int4').execute()) },
        '0002_broken': { up: async (db) => void (await sql`select * from no_such_table`.execute(db)) },
      };
      const err = await migrateSchema(tdb, { schema: 'broken', migrations }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationError);
      expect((err as MigrationError).migrationName).toBe('0002_broken');
      expect((err as MigrationError).message).toMatch(/migration "0002_broken" of schema "broken" failed: .*no_such_table/);
      expect(pgErrorCode(err)).toBe('42P01');
      const t1 = await sql`select 1 from information_schema.tables where table_schema = 'broken' and table_name = 't1'`.execute(
        tdb.kysely(),
      );
      expect(t1.rows).toHaveLength(0);
      // Fixing the migration and rerunning applies both.
      const fixed = { ...migrations, '0002_broken': { up: async () => {} } };
      expect((await migrateSchema(tdb, { schema: 'broken', migrations: fixed })).executed).toEqual(['0001_ok', '0002_broken']);
    });

    it('survives two concurrent migrateSchema calls on a fresh schema', async () => {
      let runs = 0;
      const migrations: Record<string, Migration> = {
        '0001_counter': {
          async up(db) {
            runs++;
            await db.schema.createTable('runs').addColumn('id', 'int4').execute();
            await db.insertInto('runs').values({ id: 1 }).execute();
          },
        },
      };
      const [r1, r2] = await Promise.all([
        migrateSchema(tdb, { schema: 'racy', migrations }),
        migrateSchema(tdb, { schema: 'racy', migrations }),
      ]);
      expect([...r1.executed, ...r2.executed]).toEqual(['0001_counter']);
      expect(runs).toBe(1);
      expect(await tdb.kysely('racy').selectFrom('runs').selectAll().execute()).toEqual([{ id: 1 }]);
    });

    it('detects unique violations with the Postgres code and constraint', async () => {
      await migrateSchema(tdb, { schema: 'uniq', migrations: itemsMigrations });
      const db = tdb.kysely('uniq');
      await db.insertInto('items').values({ name: 'dup' }).execute();
      const err = await db
        .insertInto('items')
        .values({ name: 'dup' })
        .execute()
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(pgErrorCode(err)).toBe('23505');
      expect(isUniqueViolation(err)).toBe(true);
      expect(isUniqueViolation(err, 'items_name_key')).toBe(true);
      expect(isUniqueViolation(err, 'other')).toBe(false);
      expect(isSerializationFailure(err)).toBe(false);
      expect(isUniqueViolation(new Error('x', { cause: err }))).toBe(true);
    });

    it('round-trips int8 beyond 2^53 and numeric exactly, as strings', async () => {
      await migrateSchema(tdb, { schema: 'big', migrations: itemsMigrations });
      const db = tdb.kysely('big');
      const huge = '9223372036854775807';
      await db
        .insertInto('items')
        .values([
          { name: 'max', amount: huge },
          { name: 'bigint-param', amount: 9007199254740993n },
          { name: 'small', amount: 5 },
        ])
        .execute();
      const rows = await db.selectFrom('items').select(['name', 'amount']).orderBy('id').execute();
      expect(rows).toEqual([
        { name: 'max', amount: huge },
        { name: 'bigint-param', amount: '9007199254740993' },
        { name: 'small', amount: '5' },
      ]);
      const r = await sql<Record<string, unknown>>`
        select count(*) as c,
               ${'12345678901234567890.000000000000000001'}::numeric as num,
               array[9007199254740993, -1, null]::int8[] as arr,
               array[1.10, 2]::numeric[] as nums,
               '\\x00ff'::bytea as bytes`.execute(db);
      expect(r.rows[0]).toEqual({
        c: '1',
        num: '12345678901234567890.000000000000000001',
        arr: ['9007199254740993', '-1', null],
        nums: ['1.10', '2'],
        bytes: Buffer.from([0, 255]),
      });
      expect(Buffer.isBuffer(r.rows[0]!.bytes)).toBe(true);
    });

    it('reports affected rows for insert/update/delete, builder and raw', async () => {
      await migrateSchema(tdb, { schema: 'counts', migrations: itemsMigrations });
      const db = tdb.kysely('counts');
      const ins = await db
        .insertInto('items')
        .values([{ name: 'a' }, { name: 'b' }, { name: 'c' }])
        .executeTakeFirstOrThrow();
      expect(ins.numInsertedOrUpdatedRows).toBe(3n);
      const upd = await db.updateTable('items').set({ amount: 1 }).where('name', 'in', ['a', 'b']).executeTakeFirstOrThrow();
      expect(upd.numUpdatedRows).toBe(2n);
      const none = await db.updateTable('items').set({ amount: 1 }).where('name', '=', 'zzz').executeTakeFirstOrThrow();
      expect(none.numUpdatedRows).toBe(0n);
      const del = await db.deleteFrom('items').where('name', '=', 'c').executeTakeFirstOrThrow();
      expect(del.numDeletedRows).toBe(1n);
      const raw = await sql`update counts.items set amount = amount + ${1}`.execute(db);
      expect(raw.numAffectedRows).toBe(2n);
      const rawSelect = await sql`select * from counts.items`.execute(db);
      expect(rawSelect.numAffectedRows).toBeUndefined();
      expect(rawSelect.rows).toHaveLength(2);
    });

    it('rolls back a failed transaction completely (and savepoints work)', async () => {
      await migrateSchema(tdb, { schema: 'rb', migrations: itemsMigrations });
      const db = tdb.kysely('rb');
      await expect(
        db.transaction().execute(async (trx) => {
          await trx.insertInto('items').values({ name: 'x' }).execute();
          await trx.insertInto('items').values({ name: 'y' }).execute();
          throw new Error('abort');
        }),
      ).rejects.toThrow('abort');
      expect(await db.selectFrom('items').selectAll().execute()).toEqual([]);

      const trx = await db.startTransaction().execute();
      await trx.insertInto('items').values({ name: 'kept' }).execute();
      const sp = await trx.savepoint('sp1').execute();
      await sp.insertInto('items').values({ name: 'dropped' }).execute();
      await sp.rollbackToSavepoint('sp1').execute();
      await trx.commit().execute();
      expect(await db.selectFrom('items').select('name').execute()).toEqual([{ name: 'kept' }]);
    });

    it('withSerializableRetry retries a 40001 and returns only the successful attempt', async () => {
      await migrateSchema(tdb, { schema: 'retry', migrations: itemsMigrations });
      const db = tdb.kysely('retry');
      const attempts: number[] = [];
      const result = await withSerializableRetry(
        db,
        async (trx, attempt) => {
          attempts.push(attempt);
          await trx.insertInto('items').values({ name: 'once' }).execute();
          const level = await sql<{ l: string }>`select current_setting('transaction_isolation') as l`.execute(trx);
          expect(level.rows[0]!.l).toBe('serializable');
          if (attempt === 1) {
            await sql`do $$ begin raise exception 'simulated conflict' using errcode = '40001'; end $$`.execute(trx);
          }
          return `attempt ${attempt}`;
        },
        { maxAttempts: 3, baseDelayMs: 1 },
      );
      expect(result).toBe('attempt 2');
      expect(attempts).toEqual([1, 2]);
      expect(await db.selectFrom('items').select('name').execute()).toEqual([{ name: 'once' }]);
    });

    it('withSerializableRetry gives TransactionConflictError after maxAttempts', async () => {
      const db = tdb.kysely();
      let calls = 0;
      const err = await withSerializableRetry(
        db,
        async (trx) => {
          calls++;
          await sql`do $$ begin raise exception 'deadlock-ish' using errcode = '40P01'; end $$`.execute(trx);
        },
        { maxAttempts: 3, baseDelayMs: 1 },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TransactionConflictError);
      expect((err as TransactionConflictError).attempts).toBe(3);
      expect(calls).toBe(3);
      expect(pgErrorCode((err as Error).cause)).toBe('40P01');
      // Exhausted retries must not look retryable to an outer loop.
      expect(isSerializationFailure(err)).toBe(false);
    });

    it('withSerializableRetry does not retry other errors, and refuses swallowed database errors', async () => {
      await migrateSchema(tdb, { schema: 'retry2', migrations: itemsMigrations });
      const db = tdb.kysely('retry2');
      let calls = 0;
      await expect(
        withSerializableRetry(db, async () => {
          calls++;
          throw new Error('business rule');
        }),
      ).rejects.toThrow('business rule');
      expect(calls).toBe(1);

      await db.insertInto('items').values({ name: 'taken' }).execute();
      const err = await withSerializableRetry(db, async (trx) => {
        await trx.insertInto('items').values({ name: 'other' }).execute();
        try {
          await trx.insertInto('items').values({ name: 'taken' }).execute();
        } catch {
          // swallowed: the transaction is aborted, 'other' will not be committed
        }
        return 'looks fine';
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/aborted by a database error/);
      expect(await db.selectFrom('items').select('name').execute()).toEqual([{ name: 'taken' }]);
    });

    it('kysely(schema) validates the schema name and the handle rejects use after close', async () => {
      expect(() => tdb.kysely('Bad-Name')).toThrow(/invalid schema name/);
      expect(() => tdb.kysely('pg_catalog')).toThrow(/invalid schema name/);
      const other = await openTestDatabase({ backend: b.backend });
      await other.close();
      await other.close(); // idempotent
      expect(other.closed).toBe(true);
      expect(() => other.kysely()).toThrow(/closed/);
    }, 30_000);
  });
}

describe.skipIf(postgresSkipReason !== undefined)(
  postgresSkipReason ? `postgres only (skipped: ${postgresSkipReason})` : 'postgres only',
  () => {
    let tdb: TestDatabase;
    beforeAll(async () => {
      tdb = await openTestDatabase({ backend: 'postgres' });
      await migrateSchema(tdb, { schema: 'bank', migrations: itemsMigrations });
    }, 60_000);
    afterAll(async () => {
      await tdb?.close();
    });

    it('withSerializableRetry retries a real serialization failure from concurrent read-then-update', async () => {
      const db = tdb.kysely('bank');
      await db.insertInto('items').values({ name: 'acct', amount: 100 }).execute();

      // Both transactions read the row before either writes; the second writer must fail with 40001.
      let arrived = 0;
      let releaseBoth!: () => void;
      const bothRead = new Promise<void>((resolve) => (releaseBoth = resolve));
      const attemptsSeen: number[][] = [[], []];
      const errorsSeen: string[] = [];

      const deposit = (who: 0 | 1) =>
        withSerializableRetry(
          db,
          async (trx, attempt) => {
            attemptsSeen[who]!.push(attempt);
            const row = await trx.selectFrom('items').select('amount').where('name', '=', 'acct').executeTakeFirstOrThrow();
            if (attempt === 1) {
              if (++arrived === 2) releaseBoth();
              await bothRead;
            }
            await trx
              .updateTable('items')
              .set({ amount: String(BigInt(row.amount) + 10n) })
              .where('name', '=', 'acct')
              .execute();
            return BigInt(row.amount) + 10n;
          },
          { maxAttempts: 5, baseDelayMs: 5, onRetry: (err) => errorsSeen.push(pgErrorCode(err) ?? '?') },
        );

      const results = await Promise.all([deposit(0), deposit(1)]);
      const final = await db.selectFrom('items').select('amount').where('name', '=', 'acct').executeTakeFirstOrThrow();
      expect(final.amount).toBe('120'); // no lost update
      expect(results.map(String).sort()).toEqual(['110', '120']);
      expect(errorsSeen).toContain('40001');
      expect(attemptsSeen.flat().length).toBeGreaterThanOrEqual(3);
    });

    it('applies statement_timeout per connection', async () => {
      const h = await openDatabase({ databaseUrl: tdb.databaseUrl!, statementTimeoutMs: 100, poolMax: 1 });
      try {
        const err = await sql`select pg_sleep(2)`.execute(h.kysely()).catch((e: unknown) => e);
        expect(pgErrorCode(err)).toBe('57014');
        const app = await sql<{ a: string }>`select current_setting('application_name') as a`.execute(h.kysely());
        expect(app.rows[0]!.a).toBe('kfrm-backend');
      } finally {
        await h.close();
      }
    });

    it('openDatabase fails fast on an unreachable server', async () => {
      await expect(openDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:1/nope' })).rejects.toThrow();
    });
  },
);

/** The same database, counting the statements sent through its Kysely instances. */
function countingStatements(handle: DatabaseHandle): { handle: DatabaseHandle; statements(): number } {
  let statements = 0;
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      statements++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  return {
    handle: {
      kind: handle.kind,
      kysely: (schema?: string) => handle.kysely(schema).withPlugin(plugin),
      close: () => handle.close(),
      get closed() {
        return handle.closed;
      },
    },
    statements: () => statements,
  };
}

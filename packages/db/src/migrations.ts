/**
 * Per-service migrations. Each service owns one schema; its migrations and their bookkeeping
 * (`<schema>.kysely_migration`, `<schema>.kysely_migration_lock`) live in it.
 */
import { Migrator, sql, type Kysely, type Migration, type MigrationResult } from 'kysely';
import { assertSchemaName, type DatabaseHandle } from './database';
import { pgErrorCode, SQLSTATE } from './errors';

export type { Migration } from 'kysely';

export interface MigrateSchemaOptions {
  /** The service's schema, e.g. 'ledger'. Created if missing. */
  schema: string;
  /**
   * The service's migrations, keyed by name; they run in name order, so prefix names with a
   * zero-padded sequence number ('0001_create_accounts'). Import them statically from the
   * service's `migrations/index.ts`.
   */
  migrations: Record<string, Migration>;
}

export interface MigrateSchemaResult {
  schema: string;
  /** Names of the migrations this call executed (empty when already up to date). */
  executed: string[];
}

export class MigrationError extends Error {
  override readonly name = 'MigrationError';
  constructor(
    message: string,
    readonly schema: string,
    readonly migrationName: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Creates `schema` if missing and runs its pending migrations with Kysely's `Migrator`.
 *
 * - All pending migrations run in ONE transaction: if one fails, none of this run's migrations
 *   stay applied, and a `MigrationError` names the failed one (`cause` is the database error).
 * - Each migration gets `db` scoped to the schema (`withSchema`), and inside the migration's
 *   transaction `search_path` is the schema, so raw `sql` also creates objects there.
 *   `statement_timeout` is lifted for migrations.
 * - Concurrent calls (several processes starting at once) are safe: the Migrator serialises
 *   them with a Postgres advisory lock; the loser finds nothing left to do.
 */
export async function migrateSchema(handle: DatabaseHandle, options: MigrateSchemaOptions): Promise<MigrateSchemaResult> {
  const { schema } = options;
  assertSchemaName(schema);
  const db = handle.kysely();

  await ensureSchema(db, schema);

  const wrapped: Record<string, Migration> = {};
  for (const [name, migration] of Object.entries(options.migrations)) {
    if (typeof migration?.up !== 'function') {
      throw new MigrationError(`migration "${name}" of schema "${schema}" has no up() function`, schema, name);
    }
    wrapped[name] = {
      up: (trx) => runScoped(trx, schema, (scoped) => migration.up(scoped)),
      ...(migration.down ? { down: (trx: Kysely<any>) => runScoped(trx, schema, (scoped) => migration.down!(scoped)) } : {}),
    };
  }

  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => wrapped },
    migrationTableSchema: schema,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r: MigrationResult) => r.status === 'Error')?.migrationName;
    const reason = error instanceof Error ? error.message : String(error);
    const message = failed
      ? `migration "${failed}" of schema "${schema}" failed: ${reason}`
      : `migrating schema "${schema}" failed: ${reason}`;
    throw new MigrationError(message, schema, failed, { cause: error });
  }
  return {
    schema,
    executed: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName),
  };
}

async function runScoped(trx: Kysely<any>, schema: string, fn: (scoped: Kysely<any>) => Promise<void>): Promise<void> {
  // `true` = transaction-local (SET LOCAL); reset at COMMIT. The name is validated, so quoting is
  // just `"name"`.
  await sql`select set_config('search_path', ${`"${schema}"`}, true), set_config('statement_timeout', '0', true)`.execute(trx);
  await fn(trx.withSchema(schema));
}

async function schemaExists(db: Kysely<any>, schema: string): Promise<boolean> {
  const row = await db.selectFrom('pg_catalog.pg_namespace').select('nspname').where('nspname', '=', schema).executeTakeFirst();
  return row !== undefined;
}

async function ensureSchema(db: Kysely<any>, schema: string): Promise<void> {
  if (await schemaExists(db, schema)) return;
  try {
    await db.schema.createSchema(schema).ifNotExists().execute();
  } catch (err) {
    // Two concurrent `create schema if not exists` can still collide in the catalog (23505).
    const code = pgErrorCode(err);
    if ((code === SQLSTATE.UNIQUE_VIOLATION || code === '42P06') && (await schemaExists(db, schema))) return;
    throw err;
  }
}

/**
 * `migrateSchema` for several schemas, in order. Every process start runs this, and nearly always
 * there is nothing to do, while `migrateSchema` costs about fifteen statements and a transaction
 * per schema even then. So one statement first reads every schema's recorded migrations; when
 * each schema has exactly its migrations recorded (what `Migrator.migrateToLatest` would find
 * nothing to do for), that is the whole run. Otherwise (a schema or its bookkeeping missing, a
 * migration pending, or one recorded that the code does not know) every schema goes through
 * `migrateSchema`, which applies, or refuses, exactly as it always did.
 */
export async function migrateSchemas(handle: DatabaseHandle, plans: MigrateSchemaOptions[]): Promise<MigrateSchemaResult[]> {
  if (plans.length > 0 && (await allRecorded(handle, plans))) return plans.map((plan) => ({ schema: plan.schema, executed: [] }));
  const results: MigrateSchemaResult[] = [];
  for (const plan of plans) results.push(await migrateSchema(handle, plan));
  return results;
}

async function allRecorded(handle: DatabaseHandle, plans: MigrateSchemaOptions[]): Promise<boolean> {
  // Schema names are validated identifiers, so quoting is just `"name"`; the plan's index says
  // which schema a row belongs to.
  for (const plan of plans) assertSchemaName(plan.schema);
  const union = plans.map((plan, i) => `select ${i}::int4 as plan, name from "${plan.schema}".kysely_migration`).join(' union all ');
  let rows: { plan: number; name: string }[];
  try {
    rows = (await sql<{ plan: number; name: string }>`${sql.raw(union)}`.execute(handle.kysely())).rows;
  } catch (err) {
    const code = pgErrorCode(err);
    // A schema or its bookkeeping table that does not exist yet: the full path creates them.
    if (code === SQLSTATE.UNDEFINED_TABLE || code === SQLSTATE.INVALID_SCHEMA_NAME) return false;
    throw err;
  }
  const recorded = plans.map(() => new Set<string>());
  for (const row of rows) recorded[row.plan]!.add(row.name);
  return plans.every((plan, i) => {
    const names = Object.keys(plan.migrations);
    return recorded[i]!.size === names.length && names.every((name) => recorded[i]!.has(name));
  });
}

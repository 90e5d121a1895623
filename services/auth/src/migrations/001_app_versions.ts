import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('app_versions')
    .addColumn('version', 'text', (c) => c.primaryKey())
    // Kept as numbers so "1.10.0" sorts after "1.9.0".
    .addColumn('major', 'integer', (c) => c.notNull().check(sql`major >= 0`))
    .addColumn('minor', 'integer', (c) => c.notNull().check(sql`minor >= 0`))
    .addColumn('patch', 'integer', (c) => c.notNull().check(sql`patch >= 0`))
    // An app below the newest released version with force_update must update before use.
    .addColumn('force_update', 'boolean', (c) => c.notNull().defaultTo(false))
    // Null until released; a future time schedules a release.
    .addColumn('released_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('app_versions_version_matches', sql`version = major || '.' || minor || '.' || patch`)
    .execute();

  await db
    .insertInto('app_versions')
    .values([
      { version: '1.0.0', major: 1, minor: 0, patch: 0, force_update: true, released_at: sql`now()` },
      { version: '1.1.0', major: 1, minor: 1, patch: 0, force_update: false, released_at: sql`now()` },
    ])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('app_versions').execute();
}

import type { Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
// CreateAccount's idempotency key: a retry after a lost answer finds the account it created.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('accounts').addColumn('creation_key', 'text').execute();
  await db.schema.createIndex('accounts_creation_key_key').on('accounts').column('creation_key').unique().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('accounts_creation_key_key').execute();
  await db.schema.alterTable('accounts').dropColumn('creation_key').execute();
}

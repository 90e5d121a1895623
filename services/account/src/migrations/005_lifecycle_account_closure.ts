import type { Kysely } from 'kysely';

// Account closure (AccountService.CloseAccount): the row, its postings and entries stay (the
// statement is kept); closed_at marks it, and the poster refuses it on either side from then on.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('accounts').addColumn('closed_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('accounts').dropColumn('closed_at').execute();
}

import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  // ARS registration, the second linking step of seed 001 (issue 15): one row per attempt, written
  // before the first call with our regTranId (Konaplate's idempotency key for the attempt).
  await db.schema
    .createTable('ars_verifications')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('linked_account_id', 'bigint', (c) => c.notNull().references('linked_accounts.id'))
    .addColumn('member_id', 'text', (c) => c.notNull())
    .addColumn('reg_tran_id', 'text', (c) => c.notNull().unique())
    .addColumn('state', 'text', (c) =>
      c.notNull().check(sql`state in ('ISSUING', 'CODE_ISSUED', 'CALLING', 'REGISTERED', 'FAILED', 'EXPIRED')`),
    )
    .addColumn('auth_code', 'text')
    .addColumn('code_expires_at', 'timestamptz')
    .addColumn('failure', 'text')
    .addColumn('registered_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    // Past ISSUING the code is known; REGISTERED has its time.
    .addCheckConstraint('ars_verifications_code_known', sql`state = 'ISSUING' or state = 'FAILED' or auth_code is not null`)
    .addCheckConstraint('ars_verifications_registered_at', sql`(state = 'REGISTERED') = (registered_at is not null)`)
    .execute();
  await db.schema.createIndex('ars_verifications_user').on('ars_verifications').columns(['user_id', 'created_at']).execute();
  // Set in the transaction that records REGISTERED: the consent needs it.
  await db.schema.alterTable('linked_accounts').addColumn('ars_verified_at', 'timestamptz').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('linked_accounts').dropColumn('ars_verified_at').execute();
  await db.schema.dropTable('ars_verifications').execute();
}

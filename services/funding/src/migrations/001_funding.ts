import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('linked_accounts')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('user_id', 'text', (c) => c.notNull().check(sql`user_id ~ '^[0-9]{1,20}$'`))
    .addColumn('bank_code', 'text', (c) => c.notNull().check(sql`bank_code ~ '^[0-9]{3}$'`))
    .addColumn('account_number', 'text', (c) => c.notNull().check(sql`account_number ~ '^[0-9]{1,20}$'`))
    .addColumn('bank_name', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('HOLDER_VERIFIED', 'LINKED')`))
    .addColumn('holder_verified_at', 'timestamptz', (c) => c.notNull())
    .addColumn('holder_correlation_id', 'text', (c) => c.notNull())
    .addColumn('linked_at', 'timestamptz')
    .addColumn('consent_id', 'text')
    .addColumn('auto_top_up_registered_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addUniqueConstraint('linked_accounts_user_account_key', ['user_id', 'bank_code', 'account_number'])
    // Linked means a verified consent exists; auto top-up only for a linked account.
    .addCheckConstraint('linked_accounts_linked_complete', sql`(state = 'LINKED') = (linked_at is not null and consent_id is not null)`)
    .addCheckConstraint('linked_accounts_auto_top_up_linked', sql`auto_top_up_registered_at is null or state = 'LINKED'`)
    .execute();
  // One automatic top-up account per user, as at Konaplate.
  await db.schema
    .createIndex('linked_accounts_one_auto_top_up_idx')
    .on('linked_accounts')
    .column('user_id')
    .unique()
    .where(sql.ref('auto_top_up_registered_at'), 'is not', null)
    .execute();

  await db.schema
    .createTable('consents')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('linked_account_id', 'bigint', (c) => c.notNull().references('linked_accounts.id'))
    .addColumn('provider', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) =>
      c
        .notNull()
        .check(
          sql`state in ('REQUESTING', 'REQUESTED', 'SIGNED', 'VERIFYING', 'VERIFIED', 'EXPIRED', 'REQUEST_FAILED', 'VERIFY_UNKNOWN', 'EVIDENCE_LOST')`,
        ),
    )
    .addColumn('receipt_id', 'text')
    .addColumn('expires_at', 'timestamptz')
    .addColumn('signed_at', 'timestamptz')
    .addColumn('verify_started_at', 'timestamptz')
    .addColumn('verified_at', 'timestamptz')
    .addColumn('signed_data', 'text')
    .addColumn('evidence_der', 'bytea')
    .addColumn('failure', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addUniqueConstraint('consents_provider_receipt_key', ['provider', 'receipt_id'])
    // Past REQUESTING a consent has its receipt; VERIFIED means the evidence is stored.
    .addCheckConstraint('consents_receipt_known', sql`state in ('REQUESTING', 'REQUEST_FAILED') or receipt_id is not null`)
    .addCheckConstraint(
      'consents_verified_evidence',
      sql`(state = 'VERIFIED') = (signed_data is not null and evidence_der is not null and verified_at is not null)`,
    )
    .execute();
  await db.schema.createIndex('consents_user_idx').on('consents').columns(['user_id', 'created_at']).execute();
  await db.schema.createIndex('consents_linked_account_idx').on('consents').column('linked_account_id').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('consents').execute();
  await db.schema.dropTable('linked_accounts').execute();
}

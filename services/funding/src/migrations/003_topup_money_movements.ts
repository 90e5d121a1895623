import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  // Top-ups and withdrawals between a KFRM account and a linked bank account (issue 15). A row is
  // written before anything moves and is the pending record until settled or failed; every step
  // after it (Konaplate's answer, the ledger postings) is recorded on it, so a crash or a lost
  // answer leaves a row the background job resolves.
  await db.schema
    .createTable('money_movements')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().check(sql`user_id ~ '^[0-9]{1,20}$'`))
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('TOP_UP', 'WITHDRAWAL')`))
    .addColumn('external_transaction_id', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('linked_account_id', 'int8', (c) => c.notNull().references('linked_accounts.id'))
    .addColumn('account_number', 'text', (c) => c.notNull())
    .addColumn('amount_minor', 'int8', (c) => c.notNull().check(sql`amount_minor > 0`))
    .addColumn('member_id', 'text', (c) => c.notNull())
    // Konaplate's idempotency key for this movement, ours, fixed before the first call.
    .addColumn('tran_id', 'text', (c) => c.notNull().unique())
    // The Asia/Seoul calendar day of the request: the daily top-up limit counts by it.
    .addColumn('seoul_day', 'text', (c) => c.notNull().check(sql`seoul_day ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'`))
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('PENDING', 'SETTLED', 'FAILED')`))
    // null until Konaplate's answer is known (sent or not, lost answers included).
    .addColumn('konaplate_outcome', 'text', (c) => c.check(sql`konaplate_outcome in ('SUCCESS', 'FAILED')`))
    .addColumn('approval_no', 'text')
    // Withdrawal: the ledger debit to the settlement account (posted before Konaplate is asked).
    .addColumn('debit_entry_id', 'int8')
    // Top-up: the credit from the settlement account; withdrawal: the reversal of a refused one.
    .addColumn('credit_entry_id', 'int8')
    .addColumn('failure_code', 'text')
    .addColumn('attempts', 'int4', (c) => c.notNull().defaultTo(0))
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('settled_at', 'timestamptz')
    .addUniqueConstraint('money_movements_external_id', ['user_id', 'external_transaction_id'])
    .addCheckConstraint('money_movements_failed_has_code', sql`state <> 'FAILED' or failure_code is not null`)
    .addCheckConstraint('money_movements_settled_moved', sql`state <> 'SETTLED' or konaplate_outcome = 'SUCCESS'`)
    .execute();
  await db.schema
    .createIndex('money_movements_pending')
    .on('money_movements')
    .column('updated_at')
    .where(sql.ref('state'), '=', 'PENDING')
    .execute();
  await db.schema.createIndex('money_movements_day').on('money_movements').columns(['user_id', 'seoul_day']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('money_movements').execute();
}

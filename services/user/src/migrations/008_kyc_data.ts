import { sql, type Kysely } from 'kysely';

// KYC data as the customer submitted it with RegisterKyc (issue 14 item 7), sealed under the
// user data key (kyc-data-seal.ts) for the reviewer; kept sealed after a withdrawal until
// personal_data_retain_until, then erased with the name and resident id.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('kyc_data_sealed', 'text').addColumn('kyc_submitted_at', 'timestamptz').execute();
  // The reviewers' queue: customers waiting for a decision, oldest submission first.
  await db.schema
    .createIndex('users_kyc_review_queue')
    .on('users')
    .columns(['kyc_submitted_at', 'id'])
    .where(sql.ref('kyc_status'), 'in', ['REGISTERED', 'PROCESSING', 'ON_HOLD'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('users_kyc_review_queue').execute();
  await db.schema.alterTable('users').dropColumn('kyc_submitted_at').dropColumn('kyc_data_sealed').execute();
}

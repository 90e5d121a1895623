import type { Kysely } from 'kysely';

// Frozen in time. Raising a transfer limit (TransferService.ChangeTransferLimit) is a step-up:
// the customer's PIN, with no fallback (a lost PIN must not be replaced by a weaker factor here).
const POLICY = {
  transaction_type: 'CHANGE_TRANSFER_LIMIT',
  priority: 10,
  condition: null,
  authentications: JSON.stringify([{ type: 'PIN', fallback: 'NONE' }]),
  description: 'raising a transfer limit: PIN',
};

export async function up(db: Kysely<any>): Promise<void> {
  await db.insertInto('authentication_policies').values(POLICY).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom('authentication_policies').where('transaction_type', '=', POLICY.transaction_type).execute();
}

import type { Kysely } from 'kysely';

// Frozen in time: the step-up policy for reissuing a signing certificate (auth's
// SigningCertificateService), as first shipped. The customer's PIN; the device proof is checked
// by the auth service on top of it.
const POLICY = {
  transaction_type: 'REISSUE_SIGNING_CERTIFICATE',
  priority: 10,
  condition: null,
  authentications: JSON.stringify([{ type: 'PIN', fallback: 'NONE' }]),
  description: 'reissue signing certificate: PIN (and a device-key signature, checked by auth)',
};

export async function up(db: Kysely<any>): Promise<void> {
  await db.insertInto('authentication_policies').values(POLICY).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom('authentication_policies').where('transaction_type', '=', POLICY.transaction_type).execute();
}

import type { Kysely } from 'kysely';

// Frozen in time: the policies as first shipped. Later changes are new migrations (or rows
// changed by operators); this file is never edited.
const POLICIES = [
  {
    transaction_type: 'LOGIN',
    priority: 10,
    condition: { path: 'biometric_enabled', op: '==', value: true },
    authentications: [{ type: 'BIO', fallback: 'PIN' }],
    description: 'login on a device with biometric login activated: biometric, or PIN instead',
  },
  {
    transaction_type: 'LOGIN',
    priority: 20,
    condition: null,
    authentications: [{ type: 'PIN', fallback: 'PATTERN' }],
    description: 'login: PIN, or pattern instead',
  },
  ...['ACTIVATE_BIOMETRIC', 'DEACTIVATE_BIOMETRIC', 'CHANGE_DEVICE', 'REINSTALL_APP'].map((type) => ({
    transaction_type: type,
    priority: 10,
    condition: null,
    authentications: [{ type: 'PIN', fallback: 'NONE' }],
    description: `${type.toLowerCase().replaceAll('_', ' ')}: PIN`,
  })),
  {
    transaction_type: 'TRANSFER',
    priority: 10,
    condition: { path: 'amount.major_amount', op: '>=', value: 1_000_000 },
    authentications: [
      { type: 'PIN', fallback: 'NONE' },
      { type: 'BIO', fallback: 'NONE' },
    ],
    description: 'transfer of 1,000,000 KRW or more: PIN and biometric',
  },
  {
    transaction_type: 'TRANSFER',
    priority: 20,
    // Both bounds are spelt out: a context without a usable amount matches no policy
    // (AUTHENTICATION_POLICY_NOT_FOUND) instead of falling through to the weaker one.
    condition: {
      all: [
        { path: 'amount.major_amount', op: '>=', value: 0 },
        { path: 'amount.major_amount', op: '<', value: 1_000_000 },
      ],
    },
    authentications: [{ type: 'BIO', fallback: 'PIN' }],
    description: 'transfer below 1,000,000 KRW: biometric, or PIN instead',
  },
];

export async function up(db: Kysely<any>): Promise<void> {
  await db
    .insertInto('authentication_policies')
    .values(
      POLICIES.map((p) => ({
        ...p,
        condition: p.condition === null ? null : JSON.stringify(p.condition),
        authentications: JSON.stringify(p.authentications),
      })),
    )
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom('authentication_policies').execute();
}

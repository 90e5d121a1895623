import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('terms')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('mandatory', 'boolean', (c) => c.notNull())
    // Retired terms stay for the agreements that name them, but are no longer listed.
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db
    .insertInto('terms')
    .values([
      { name: 'Terms of service', url: 'https://kfrm.example/terms/service', description: 'Use of the KFRM app', mandatory: true },
      {
        name: 'Privacy policy',
        url: 'https://kfrm.example/terms/privacy',
        description: 'Collection and use of personal data',
        mandatory: true,
      },
      { name: 'Marketing', url: 'https://kfrm.example/terms/marketing', description: 'News and offers', mandatory: false },
    ])
    .execute();

  // One row per user in sign-up; the user record itself is the user service's.
  await db.schema
    .createTable('registrations')
    .addColumn('user_id', 'bigint', (c) => c.primaryKey())
    .addColumn('device_id', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    // Peppered argon2id of the PIN/pattern given in Register*, until Confirm* matches it.
    .addColumn('pending_pin_hash', 'text')
    .addColumn('pending_pattern_hash', 'text')
    .addColumn('completed_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('registrations_device_idx').on('registrations').columns(['device_id', 'created_at']).execute();

  await db.schema
    .createTable('term_agreements')
    .addColumn('user_id', 'bigint', (c) => c.notNull())
    .addColumn('term_id', 'bigint', (c) => c.notNull().references('terms.id'))
    .addColumn('agreed', 'boolean', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('term_agreements_pk', ['user_id', 'term_id'])
    .execute();

  // PIN and pattern: peppered argon2id only (the pepper is not in the database).
  await db.schema
    .createTable('secret_credentials')
    .addColumn('user_id', 'bigint', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('pin', 'pattern')`))
    .addColumn('hash', 'text', (c) => c.notNull())
    // Durable copy of the attempt limiter's state (see @kfrm/credentials README).
    .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0).check(sql`failures >= 0`))
    .addColumn('locked', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('secret_credentials_pk', ['user_id', 'kind'])
    .execute();

  await db.schema
    .createTable('biometric_keys')
    .addColumn('user_id', 'bigint', (c) => c.primaryKey())
    .addColumn('device_id', 'bigint', (c) => c.notNull())
    // SubjectPublicKeyInfo DER of a P-256 or RSA key made on the device.
    .addColumn('public_key', 'bytea', (c) => c.notNull())
    .addColumn('enabled', 'boolean', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable('signing_certificates')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('user_id', 'bigint', (c) => c.notNull())
    .addColumn('serial_number', 'text', (c) => c.notNull().unique())
    .addColumn('der', 'bytea', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'active', 'revoked')`))
    .addColumn('not_after', 'timestamptz', (c) => c.notNull())
    // The token the app signs to activate the certificate; cleared when used.
    .addColumn('verification_token', 'text')
    .addColumn('token_expires_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('activated_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('signing_certificates_user_idx').on('signing_certificates').columns(['user_id', 'status']).execute();
  // At most one active certificate per user.
  await sql`create unique index signing_certificates_one_active on signing_certificates (user_id) where status = 'active'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['signing_certificates', 'biometric_keys', 'secret_credentials', 'term_agreements', 'registrations', 'terms']) {
    await db.schema.dropTable(table).execute();
  }
}

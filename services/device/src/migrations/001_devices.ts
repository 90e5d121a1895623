import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('devices')
    // By default, not always: the service takes the next id first, because the id goes into the
    // certificate, and then inserts the finished row in one statement.
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedByDefaultAsIdentity())
    .addColumn('key_algorithm', 'text', (c) => c.notNull().check(sql`key_algorithm in ('EC_P256', 'RSA_2048', 'RSA_3072', 'RSA_4096')`))
    // SHA-256 of the canonical SPKI, hex: finds every device that used one key.
    .addColumn('spki_sha256', 'text', (c) => c.notNull().check(sql`spki_sha256 ~ '^[0-9a-f]{64}$'`))
    .addColumn('serial', 'text', (c) => c.notNull().unique().check(sql`serial ~ '^[0-9a-f]{1,40}$'`))
    .addColumn('certificate', 'bytea', (c) => c.notNull())
    .addColumn('not_before', 'timestamptz', (c) => c.notNull())
    .addColumn('not_after', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revocation_reason', 'text', (c) => c.check(sql`revocation_reason in ('DEVICE_CHANGED', 'USER_BLOCKED', 'COMPROMISED')`))
    .addCheckConstraint('devices_validity_order', sql`not_after > not_before`)
    .addCheckConstraint('devices_revocation_complete', sql`(revoked_at is null) = (revocation_reason is null)`)
    .execute();
  await db.schema.createIndex('devices_spki_sha256_idx').on('devices').column('spki_sha256').execute();
  // Start-up and the periodic resync re-mark revoked, unexpired certificates in the store.
  await db.schema
    .createIndex('devices_revoked_idx')
    .on('devices')
    .columns(['not_after', 'id'])
    .where(sql.ref('revoked_at'), 'is not', null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('devices').execute();
}

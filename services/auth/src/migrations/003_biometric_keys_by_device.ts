import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
// PrepareLogin looks the enabled biometric keys up by the calling device before it knows the
// user (ADR 0021); only enabled keys are ever looked up that way.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('biometric_keys_enabled_device_idx')
    .on('biometric_keys')
    .column('device_id')
    .where(sql.ref('enabled'), '=', true)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('biometric_keys_enabled_device_idx').execute();
}

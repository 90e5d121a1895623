import type { Kysely } from 'kysely';

// Resident ids are sealed at rest from here on (AES-256-GCM under KFRM_USER_DATA_KEY_FILE, which
// the database never sees). The plain column stays for rows not yet sealed: the user module's
// start seals them and clears it (it cannot be done here, the migration has no key).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').addColumn('resident_id_sealed', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('users').dropColumn('resident_id_sealed').execute();
}

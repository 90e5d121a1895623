import { sql, type Kysely } from 'kysely';

// One member per resident registration number: a keyed hash (HMAC-SHA256 under
// KFRM_USER_RESIDENT_ID_HASH_KEY_FILE, see resident-id-hash.ts) next to the sealed value, unique.
// The migration has no keys, so it cannot fill the column: the user module's start does, before
// serving, by opening each sealed value once (the one time existing rows are decrypted in bulk),
// and skips (and counts in the log) a row whose number an earlier row already holds.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('resident_id_hash', 'text', (c) => c.check(sql`resident_id_hash ~ '^[0-9a-f]{64}$'`))
    .execute();
  await db.schema.createIndex('users_resident_id_hash_key').on('users').column('resident_id_hash').unique().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('users_resident_id_hash_key').execute();
  await db.schema.alterTable('users').dropColumn('resident_id_hash').execute();
}

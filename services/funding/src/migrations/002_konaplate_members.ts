import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  // One Konaplate member per KFRM user. login_id is written before the registration call and
  // never changes (the registration's idempotency key); member_id arrives with the answer.
  await db.schema
    .createTable('konaplate_members')
    .addColumn('user_id', 'text', (c) => c.primaryKey().check(sql`user_id ~ '^[0-9]{1,20}$'`))
    .addColumn('login_id', 'text', (c) => c.notNull().unique())
    .addColumn('member_id', 'text', (c) => c.unique().check(sql`member_id ~ '^[1-9][0-9]{0,18}$'`))
    .addColumn('registered_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addCheckConstraint('konaplate_members_registered', sql`(member_id is null) = (registered_at is null)`)
    .execute();

  // The content the consent's signature must cover, fixed when the request is sent, so the
  // signedData is checked against what was asked (not against whatever comes back).
  await db.schema.alterTable('consents').addColumn('expected_signed_content', 'bytea').execute();
  // EVIDENCE_INVALID: kakaoCert returned signedData that failed the CMS check; nothing is kept.
  await sql`alter table consents drop constraint consents_state_check`.execute(db);
  await sql`alter table consents add constraint consents_state_check check (state in ('REQUESTING', 'REQUESTED', 'SIGNED', 'VERIFYING', 'VERIFIED', 'EXPIRED', 'REQUEST_FAILED', 'VERIFY_UNKNOWN', 'EVIDENCE_LOST', 'EVIDENCE_INVALID'))`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table consents drop constraint consents_state_check`.execute(db);
  await sql`alter table consents add constraint consents_state_check check (state in ('REQUESTING', 'REQUESTED', 'SIGNED', 'VERIFYING', 'VERIFIED', 'EXPIRED', 'REQUEST_FAILED', 'VERIFY_UNKNOWN', 'EVIDENCE_LOST'))`.execute(
    db,
  );
  await db.schema.alterTable('consents').dropColumn('expected_signed_content').execute();
  await db.schema.dropTable('konaplate_members').execute();
}

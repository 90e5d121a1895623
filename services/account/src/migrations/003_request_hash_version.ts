import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
// Which request hash an entry carries. Version 1 (every entry before this migration, and any
// written by a ledger that does not know the column yet) hashed the whole request, memos and
// notification text included; version 2 hashes the money fields only. A retry of a version-1
// entry is compared on the money fields of its postings instead (ledger-poster.ts), because the
// text that version 1 hashed is no longer what callers send.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table entries add column request_hash_version smallint not null default 1 check (request_hash_version in (1, 2))`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table entries drop column request_hash_version`.execute(db);
}

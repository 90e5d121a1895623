import { sql, type Kysely } from 'kysely';

// Maker-checker (docs/operators.md, "Approvals"): operator calls waiting for a second operator.
// `request` is the call's serialized request message, executed once when approved.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table operator_approvals (
      approval_id uuid primary key,
      method text not null,
      request bytea not null,
      maker text not null,
      roles text[] not null,
      target text not null,
      detail jsonb not null default '{}'::jsonb,
      status text not null check (status in ('PENDING', 'EXECUTING', 'EXECUTED', 'REJECTED')),
      created_at timestamptz not null,
      decided_by text,
      decided_at timestamptz,
      outcome text
    )`.execute(db);
  await sql`create index operator_approvals_pending on operator_approvals (created_at) where status = 'PENDING'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('operator_approvals').execute();
}

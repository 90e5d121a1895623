import { sql, type Kysely } from 'kysely';

/**
 * The append-only, hash-chained audit log (docs/adr/0009-audit-log.md).
 * - seq is given by the appender under an advisory lock (no sequence: the chain has no holes),
 *   and the primary key makes a second row with the same seq fail: the chain cannot fork even
 *   if the lock were bypassed;
 * - a trigger refuses UPDATE, DELETE and TRUNCATE for everyone, the table's owner included (only
 *   a superuser who switches triggers off can change a row — and the verifier then sees it);
 * - the application role `kfrm_app`, when the database has it (or the migrator may create it),
 *   gets SELECT and INSERT and nothing else.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create table audit_log (
      seq bigint primary key check (seq > 0),
      occurred_at timestamptz not null,
      actor_kind text not null check (actor_kind in ('operator', 'service', 'anonymous')),
      actor text not null,
      action text not null,
      target text not null,
      outcome text not null,
      detail jsonb not null default '{}'::jsonb,
      prev_hash text not null check (prev_hash ~ '^[0-9a-f]{64}$'),
      hash text not null unique check (hash ~ '^[0-9a-f]{64}$')
    )`.execute(db);
  await sql`
    create function audit_log_refuse_change() returns trigger language plpgsql as $$
    begin
      raise exception 'audit_log is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
    end
    $$`.execute(db);
  await sql`
    create trigger audit_log_no_update_delete before update or delete on audit_log
    for each row execute function audit_log_refuse_change()`.execute(db);
  await sql`
    create trigger audit_log_no_truncate before truncate on audit_log
    for each statement execute function audit_log_refuse_change()`.execute(db);
  // The application role: created NOLOGIN when the migrator may create roles and it is missing;
  // granted only reading and appending. Where neither is possible (a managed database whose
  // migrator cannot create roles), the grants are left to the DBA (docs/operators.md).
  await sql`
    do $$
    declare
      may_create boolean;
    begin
      select rolsuper or rolcreaterole into may_create from pg_roles where rolname = current_user;
      if not exists (select from pg_roles where rolname = 'kfrm_app') and may_create then
        begin
          create role kfrm_app nologin;
        exception when duplicate_object or unique_violation then
          null; -- another database of this server made it at the same moment
        end;
      end if;
      if exists (select from pg_roles where rolname = 'kfrm_app') then
        execute format('grant usage on schema %I to kfrm_app', current_schema());
        execute format('revoke all on %I.audit_log from kfrm_app', current_schema());
        execute format('grant select, insert on %I.audit_log to kfrm_app', current_schema());
      end if;
    end
    $$`.execute(db);
}

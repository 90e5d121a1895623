import type { ColumnType } from 'kysely';

export interface AuditLogTable {
  seq: ColumnType<bigint, bigint, never>;
  occurred_at: ColumnType<Date, Date, never>;
  actor_kind: ColumnType<string, string, never>;
  actor: ColumnType<string, string, never>;
  action: ColumnType<string, string, never>;
  target: ColumnType<string, string, never>;
  outcome: ColumnType<string, string, never>;
  detail: ColumnType<Record<string, string>, string, never>;
  prev_hash: ColumnType<string, string, never>;
  hash: ColumnType<string, string, never>;
}

export interface AuditDatabase {
  audit_log: AuditLogTable;
}

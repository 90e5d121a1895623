import type { ColumnType } from 'kysely';

export interface AppVersionTable {
  version: string;
  major: number;
  minor: number;
  patch: number;
  force_update: boolean;
  released_at: ColumnType<Date | null, Date | string | null, Date | string | null>;
  created_at: ColumnType<Date, never, never>;
}

import type { Migration } from 'kysely';
import * as m001 from './001_audit_log';

/** Applied in key order; never renamed or edited once shipped. */
export const auditMigrations: Record<string, Migration> = {
  '001_audit_log': m001,
};

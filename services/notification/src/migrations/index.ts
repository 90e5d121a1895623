import type { Migration } from 'kysely';
import * as m001 from './001_notification';

/** Applied in key order; never renamed or edited once shipped. */
export const migrations: Record<string, Migration> = {
  '001_notification': m001,
};

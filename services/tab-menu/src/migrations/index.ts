import type { Migration } from 'kysely';
import * as m001 from './001_content_tables';
import * as m002 from './002_seed_content';

/** Applied in key order; never renamed or edited once shipped. */
export const migrations: Record<string, Migration> = {
  '001_content_tables': m001,
  '002_seed_content': m002,
};

import type { Migration } from 'kysely';
import * as m001 from './001_identity';
import * as m002 from './002_seed_policies';

/** Applied in key order; never renamed or edited once shipped. */
export const migrations: Record<string, Migration> = {
  '001_identity': m001,
  '002_seed_policies': m002,
};

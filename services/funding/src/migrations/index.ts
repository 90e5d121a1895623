import type { Migration } from 'kysely';
import * as m001 from './001_funding';
import * as m002 from './002_konaplate_members';

/** Applied in key order; never renamed or edited once shipped. */
export const migrations: Record<string, Migration> = {
  '001_funding': m001,
  '002_konaplate_members': m002,
};

import type { Migration } from 'kysely';
import * as m001 from './001_funding';
import * as m002 from './002_konaplate_members';
import * as m003 from './003_topup_money_movements';

/** Applied in key order; never renamed or edited once shipped. */
export const migrations: Record<string, Migration> = {
  '001_funding': m001,
  '002_konaplate_members': m002,
  '003_topup_money_movements': m003,
};

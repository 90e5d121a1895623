import type { Migration } from 'kysely';
import * as m001 from './001_funding';
import * as m002 from './002_konaplate_members';
import * as m003 from './003_topup_money_movements';
import * as m004 from './004_recon_reconciliation_runs';
import * as m005 from './005_ars_verifications';

/** Applied in key order; never renamed or edited once shipped. */
export const migrations: Record<string, Migration> = {
  '001_funding': m001,
  '002_konaplate_members': m002,
  '003_topup_money_movements': m003,
  '004_recon_reconciliation_runs': m004,
  '005_ars_verifications': m005,
};

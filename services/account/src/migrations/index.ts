import type { Migration } from 'kysely';
import * as m001 from './001_ledger';
import * as m002 from './002_account_creation_key';
import * as m003 from './003_request_hash_version';
import * as m004 from './004_outbox_facts';
import * as m005LifecycleClosure from './005_lifecycle_account_closure';
import * as m006TopupKinds from './006_topup_withdrawal_kinds';
import * as m007BalanceChecks from './007_balance_checks_per_statement';

/** Applied in key order; never renamed or edited once shipped. */
export const migrations: Record<string, Migration> = {
  '001_ledger': m001,
  '002_account_creation_key': m002,
  '003_request_hash_version': m003,
  '004_outbox_facts': m004,
  '005_lifecycle_account_closure': m005LifecycleClosure,
  '006_topup_withdrawal_kinds': m006TopupKinds,
  '007_balance_checks_per_statement': m007BalanceChecks,
};

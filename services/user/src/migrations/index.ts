import type { Migration } from 'kysely';
import * as m001 from './001_identity';
import * as m002 from './002_seed_policies';
import * as m003 from './003_seal_resident_ids';
import * as m004creds from './004_creds_reissue_policy';
import * as m004LifecycleLimit from './004_lifecycle_transfer_limit_policy';
import * as m005LifecycleRrnHash from './005_lifecycle_resident_id_hash';
import * as m006LifecycleWithdrawal from './006_lifecycle_withdrawal';
import * as m007OperatorApprovals from './007_operator_approvals';
import * as m008KycData from './008_kyc_data';

/** Applied in key order; never renamed or edited once shipped. */
export const migrations: Record<string, Migration> = {
  '001_identity': m001,
  '002_seed_policies': m002,
  '003_seal_resident_ids': m003,
  '004_creds_reissue_policy': m004creds,
  '004_lifecycle_transfer_limit_policy': m004LifecycleLimit,
  '005_lifecycle_resident_id_hash': m005LifecycleRrnHash,
  '006_lifecycle_withdrawal': m006LifecycleWithdrawal,
  '007_operator_approvals': m007OperatorApprovals,
  '008_kyc_data': m008KycData,
};

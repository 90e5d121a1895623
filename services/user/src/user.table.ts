import type { ColumnType, Generated } from 'kysely';

/** The Postgres schema the user service owns. */
export const USER_SCHEMA = 'users';

export type UserStatusName = 'CREATED' | 'AGREED' | 'ACTIVATED' | 'BLOCKED' | 'DEACTIVATED';
export type KycStatusName = 'NONE' | 'REGISTERED' | 'PROCESSING' | 'ON_HOLD' | 'REJECTED' | 'VERIFIED';
export type TransactionTypeName =
  | 'LOGIN'
  | 'ACTIVATE_BIOMETRIC'
  | 'DEACTIVATE_BIOMETRIC'
  | 'CHANGE_DEVICE'
  | 'REINSTALL_APP'
  | 'TRANSFER'
  | 'REISSUE_SIGNING_CERTIFICATE'
  | 'CHANGE_TRANSFER_LIMIT'
  | 'WITHDRAW_MEMBER';
export type ProcessStatusName = 'READY' | 'IN_PROGRESS' | 'DONE';

/** int8 columns come back as decimal strings (the db package keeps them exact). */
type Int8 = ColumnType<string, bigint | string, bigint | string>;

export interface UsersTable {
  id: ColumnType<string, never, never>;
  status: UserStatusName;
  idp_type: string;
  idp_name: string;
  user_name: string;
  phone_number: string;
  user_ci: string;
  /** hex SHA-256 of the user token; the token itself is never stored. */
  user_token_hash: string;
  device_id: ColumnType<string | null, bigint | string | null, bigint | string | null>;
  device_uuid: string;
  /**
   * Legacy plain resident id: null once sealed (migration 003 and the backfill at start). Never
   * logged (the logger redacts `resident_id` by name); see README.
   */
  resident_id: string | null;
  /** base64url(iv ‖ ciphertext ‖ tag) of the resident id under the user data key; never logged. */
  resident_id_sealed: ColumnType<string | null, string | null | undefined, string | null>;
  /** HMAC-SHA256 hex of the normalised resident id under the hash key (migration 005); unique. */
  resident_id_hash: ColumnType<string | null, string | null | undefined, string | null>;
  /** Member withdrawal (migration 006): asked for; done (DEACTIVATED, data erased); side effects finished. */
  withdrawal_requested_at: ColumnType<Date | null, never, Date | null>;
  withdrawn_at: ColumnType<Date | null, never, Date>;
  withdrawal_completed_at: ColumnType<Date | null, never, Date>;
  /** The withdrawn member's name, sealed under the data key for the retention period; never logged. */
  withdrawn_name_sealed: ColumnType<string | null, never, string | null>;
  /** When the sealed name and resident id are erased (withdrawal + 5 years). */
  personal_data_retain_until: ColumnType<Date | null, never, Date | null>;
  /** The KYC data submitted with RegisterKyc, sealed under the data key (migration 008); never logged. */
  kyc_data_sealed: ColumnType<string | null, string | null | undefined, string | null>;
  kyc_submitted_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  customer_id: string | null;
  kyc_status: ColumnType<KycStatusName, KycStatusName | undefined, KycStatusName>;
  reason: string | null;
  validated_at: Date | null;
  created_at: ColumnType<Date, Date, never>;
  updated_at: Date;
}

export interface SessionsTable {
  id: Generated<string>;
  /** One login and all its rotations; revoking the family ends every session in it. */
  family_id: string;
  user_id: Int8;
  device_id: Int8;
  session_token_hash: string;
  refresh_token_hash: string;
  session_expires_at: Date;
  /** The family's absolute end: rotation never extends it. */
  family_expires_at: Date;
  created_at: ColumnType<Date, Date, never>;
  /** Set when this row's refresh token was used; the row is then dead and its token spent. */
  rotated_at: ColumnType<Date | null, never, Date>;
  revoked_at: ColumnType<Date | null, never, Date>;
  revoke_reason: ColumnType<string | null, never, string>;
}

/** One required authentication of a process, as stored in `processes.authentications`. */
export interface StoredAuthentication {
  type: 'PIN' | 'PATTERN' | 'BIO';
  fallback: 'NONE' | 'PIN' | 'PATTERN' | 'BIO';
  status: 'READY' | 'DONE';
  /** Which factor completed the step (its type or its fallback). */
  done_with?: 'PIN' | 'PATTERN' | 'BIO';
}

export interface ProcessesTable {
  id: string;
  user_id: Int8;
  transaction_type: TransactionTypeName;
  /** Exactly the string the process was created with (ConsumeProcess compares it byte for byte). */
  transaction_context: string;
  policy_id: Int8;
  status: ProcessStatusName;
  authentications: ColumnType<StoredAuthentication[], string, string>;
  created_at: ColumnType<Date, Date, never>;
  expires_at: ColumnType<Date, Date, never>;
  completed_at: ColumnType<Date | null, never, Date>;
  consumed_at: ColumnType<Date | null, never, Date>;
}

export interface AuthenticationPoliciesTable {
  id: Generated<string>;
  transaction_type: TransactionTypeName;
  /** Lower first; the first enabled policy whose condition holds is used. */
  priority: number;
  /** A condition in the policy language (policy.ts); null = always. */
  condition: ColumnType<unknown, string | null, string | null>;
  authentications: ColumnType<unknown, string, string>;
  description: string;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
}

export interface UserDatabase {
  users: UsersTable;
  sessions: SessionsTable;
  processes: ProcessesTable;
  authentication_policies: AuthenticationPoliciesTable;
}

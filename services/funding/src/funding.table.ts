import type { ColumnType } from 'kysely';

/** The Postgres schema the funding service owns. */
export const FUNDING_SCHEMA = 'funding';

export const LINKED_ACCOUNT_STATES = ['HOLDER_VERIFIED', 'LINKED'] as const;
export type LinkedAccountState = (typeof LINKED_ACCOUNT_STATES)[number];

/**
 * REQUESTING → REQUESTED → SIGNED → VERIFYING → VERIFIED, with the side exits REQUEST_FAILED,
 * EXPIRED, VERIFY_UNKNOWN (the VerifyCMS answer was lost: reconciled by GetCMSState, never by
 * calling VerifyCMS blindly) and EVIDENCE_LOST (kakaoCert verified it but the evidence never
 * reached us), and EVIDENCE_INVALID (the signedData failed the CMS check: nothing was kept). See
 * consent-state.ts for the transitions.
 */
export const CONSENT_STATES = [
  'REQUESTING',
  'REQUESTED',
  'SIGNED',
  'VERIFYING',
  'VERIFIED',
  'EXPIRED',
  'REQUEST_FAILED',
  'VERIFY_UNKNOWN',
  'EVIDENCE_LOST',
  'EVIDENCE_INVALID',
] as const;
export type ConsentState = (typeof CONSENT_STATES)[number];

export interface LinkedAccountTable {
  /** int8, read back as a decimal string. */
  id: ColumnType<string, never, never>;
  /** The user's id (uint64) as decimal text. */
  user_id: string;
  bank_code: string;
  /** Full number: needed for the consent request and for Konaplate; masked in every log line. */
  account_number: string;
  bank_name: string;
  state: LinkedAccountState;
  holder_verified_at: Date;
  /** X-KM-Correlation-Id of the last successful holder verification (for Konaplate support). */
  holder_correlation_id: string;
  linked_at: Date | null;
  /** The consent whose evidence linked the account. */
  consent_id: string | null;
  auto_top_up_registered_at: Date | null;
  /** When Konaplate registered the account by ARS (migration 005); the consent needs it. */
  ars_verified_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: Date;
}

/**
 * ISSUING → CODE_ISSUED → CALLING → REGISTERED, with the exits FAILED (wrong code, no answer,
 * cancelled, or Konaplate refused the code) and EXPIRED. Each step is one guarded statement; a
 * crash or a lost answer leaves a state the next Get resumes from (ars-verification.ts).
 */
export const ARS_VERIFICATION_STATES = ['ISSUING', 'CODE_ISSUED', 'CALLING', 'REGISTERED', 'FAILED', 'EXPIRED'] as const;
export type ArsVerificationState = (typeof ARS_VERIFICATION_STATES)[number];

/** One ARS registration attempt (migration 005). */
export interface ArsVerificationTable {
  /** uuid text: the id the app polls with. */
  id: string;
  user_id: string;
  linked_account_id: ColumnType<string, string | bigint, never>;
  /** The Konaplate member id the calls were made for. */
  member_id: string;
  /** Ours, written before the first call: Konaplate's idempotency key for this attempt. */
  reg_tran_id: string;
  state: ArsVerificationState;
  /** Shown to the user, keyed in on the ARS call; short-lived and single-use. */
  auth_code: string | null;
  code_expires_at: Date | null;
  /** Why it failed (CODE_MISMATCH, NO_ANSWER, CANCELLED, NOT_FOUND_AT_KONAPLATE or a result code). */
  failure: string | null;
  registered_at: Date | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: Date;
}

export interface ConsentTable {
  /** uuid text: the id the app polls with. */
  id: string;
  user_id: string;
  linked_account_id: string;
  provider: string;
  state: ConsentState;
  receipt_id: string | null;
  expires_at: Date | null;
  signed_at: Date | null;
  verify_started_at: Date | null;
  verified_at: Date | null;
  /** signedData as kakaoCert returned it (base64url). */
  signed_data: string | null;
  /** signedData decoded: the DER file submitted to KFTC. */
  evidence_der: Uint8Array | null;
  /** Why the consent failed (a provider code or OUTCOME_UNKNOWN), for operators. */
  failure: string | null;
  /** The bytes the signedData must sign, fixed from the request that was sent (null: older rows). */
  expected_signed_content: Uint8Array | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: Date;
}

/** The Konaplate member of a KFRM user: the id Konaplate takes as `userId`. */
export interface KonaplateMemberTable {
  user_id: string;
  /** Ours, written before the registration call: its idempotency key. */
  login_id: string;
  /** Issued by Konaplate; null until the registration answered. */
  member_id: string | null;
  registered_at: Date | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: Date;
}

export type MoneyMovementKind = 'TOP_UP' | 'WITHDRAWAL';
export type MoneyMovementState = 'PENDING' | 'SETTLED' | 'FAILED';

/** A top-up or withdrawal (migration 003): the pending record first, then each step on it. */
export interface MoneyMovementTable {
  /** uuid text, ours. */
  id: string;
  user_id: string;
  kind: MoneyMovementKind;
  external_transaction_id: string;
  /** What the external id stands for (kind, accounts, amount): a reuse with others is refused. */
  request_hash: string;
  linked_account_id: ColumnType<string, string | bigint, never>;
  account_number: string;
  amount_minor: ColumnType<string, string | bigint, never>;
  member_id: string;
  /** Konaplate's idempotency key (money-movement.ts in @kfrm/konaplate). */
  tran_id: string;
  /** yyyy-MM-dd, Asia/Seoul. */
  seoul_day: ColumnType<string, string, never>;
  state: MoneyMovementState;
  konaplate_outcome: 'SUCCESS' | 'FAILED' | null;
  approval_no: string | null;
  debit_entry_id: ColumnType<string | null, string | bigint | null, string | bigint | null>;
  credit_entry_id: ColumnType<string | null, string | bigint | null, string | bigint | null>;
  failure_code: string | null;
  attempts: ColumnType<number, number | undefined, number>;
  lease_owner: string | null;
  lease_until: Date | null;
  created_at: ColumnType<Date, Date, never>;
  updated_at: Date;
  settled_at: Date | null;
}

/** A reconciled Asia/Seoul day (migration 004): the periodic job's lease and its outcome. */
export interface ReconciliationRunTable {
  seoul_day: string;
  lease_owner: string | null;
  lease_until: Date | null;
  checked: number | null;
  mismatches: number | null;
  finished_at: Date | null;
}

export interface FundingDatabase {
  money_movements: MoneyMovementTable;
  reconciliation_runs: ReconciliationRunTable;
  linked_accounts: LinkedAccountTable;
  ars_verifications: ArsVerificationTable;
  consents: ConsentTable;
  konaplate_members: KonaplateMemberTable;
}

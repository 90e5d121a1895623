/**
 * What the funding steps are given. `FundingDeps` is what a caller passes to `createFunding`;
 * `FundingContext` is the same with the defaults filled in once, so every step reads the same
 * clock and limits. Each step takes only the part it uses (a `Pick` of the context).
 */
import type { CmsConsentProvider } from '@kfrm/kakaocert';
import type { KonaplateClient } from '@kfrm/konaplate';
import type { Logger } from '@kfrm/logging';
import type { FundingDb } from './funding.repository';
import type { FundingLedger } from './ledger-port';
import type { ReconciliationMismatchKind } from './reconciliation';
import type { UserDirectory } from './user-directory';

export interface FundingDeps {
  db: FundingDb;
  konaplate: KonaplateClient;
  consents: CmsConsentProvider;
  users: UserDirectory;
  logger: Logger;
  now?: () => Date;
  /** A VERIFYING consent older than this is taken as a crashed verification (VERIFY_UNKNOWN). */
  verifyingStaleAfterMs?: number;
  /** A REQUESTING consent older than this is taken as a crashed request (REQUEST_FAILED). */
  requestingStaleAfterMs?: number;
  /** The ledger, for top-ups and withdrawals (the linking steps do not need it). */
  ledger?: FundingLedger;
  /** Top-ups per user and Asia/Seoul day, in won; null: no limit. 2,000,000 by default. */
  topUpLimitPerDayMinor?: bigint | null;
  /** How long one caller drives a top-up or withdrawal before another may take over. */
  movementLeaseMs?: number;
  /** Counts each reconciliation mismatch by kind (the module: kfrm_funding_reconciliation_mismatches_total). */
  onReconciliationMismatch?: (kind: ReconciliationMismatchKind) => void;
}

export interface FundingContext {
  db: FundingDb;
  konaplate: KonaplateClient;
  consents: CmsConsentProvider;
  users: UserDirectory;
  log: Logger;
  now: () => Date;
  verifyingStaleAfterMs: number;
  requestingStaleAfterMs: number;
  ledger: FundingLedger | undefined;
  topUpLimitPerDayMinor: bigint | null;
  movementLeaseMs: number;
  onReconciliationMismatch: ((kind: ReconciliationMismatchKind) => void) | undefined;
}

/** The daily top-up limit when none is configured (KFRM_FUNDING_TOP_UP_LIMIT_PER_DAY_KRW). */
export const DEFAULT_TOP_UP_LIMIT_PER_DAY_MINOR = 2_000_000n;

export function fundingContext(deps: FundingDeps): FundingContext {
  return {
    db: deps.db,
    konaplate: deps.konaplate,
    consents: deps.consents,
    users: deps.users,
    log: deps.logger,
    now: deps.now ?? (() => new Date()),
    verifyingStaleAfterMs: deps.verifyingStaleAfterMs ?? 60_000,
    requestingStaleAfterMs: deps.requestingStaleAfterMs ?? 60_000,
    ledger: deps.ledger,
    topUpLimitPerDayMinor: deps.topUpLimitPerDayMinor === undefined ? DEFAULT_TOP_UP_LIMIT_PER_DAY_MINOR : deps.topUpLimitPerDayMinor,
    movementLeaseMs: deps.movementLeaseMs ?? 60_000,
    onReconciliationMismatch: deps.onReconciliationMismatch,
  };
}

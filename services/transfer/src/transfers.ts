/**
 * Transfers: pre-check (which starts the TRANSFER authentication process), then Execute, which
 * moves the money once the user has authenticated and signed the transfer's canonical bytes.
 * No SQL and no gRPC here: the ledger and the user service are ports (upstream.ts).
 *
 * Execute's state machine (transfer.table.ts): PENDING → EXECUTING → SUCCEEDED | FAILED.
 * The move to EXECUTING is the decision, taken only after the user service said that the
 * process is DONE and the signature verifies over the canonical bytes. From then on any Execute
 * of the same transfer (a retry after a lost answer or a crash) drives it to its end: consuming
 * the process (already consumed by this transfer is fine) and posting to the ledger with the
 * transfer id as idempotency key (at most one posting, whoever asks and however often).
 * One caller at a time drives it, by a lease on the row, so a ledger refusal recorded as FAILED
 * is never followed by a posting from a concurrent duplicate.
 *
 * createTransfers only composes; each step is its own module with its dependencies passed in:
 * pre-check.ts (checks, limits, process start), execute.ts (authorisation and the decision),
 * pre-checked-memory.ts (what a pre-check here stored, so the first Execute here need not read it),
 * leased-drive.ts (lease, consume, post, record the end, release), account-lookup.ts (source and
 * target accounts), recent-targets.ts, pending-purge.ts (housekeeping); the codes and the
 * ledger's refusals are in transfer-errors.ts. None of them has SQL or gRPC either.
 */
import type { Logger } from '@kfrm/logging';
import { findSourceAccount, findTargetHolder } from './account-lookup';
import { type ExecuteInput, executeTransfer } from './execute';
import { INSTITUTIONS, type InstitutionEntry } from './institutions';
import type { InterbankDirectory } from './interbank-directory';
import type { LeasedDriveDeps } from './leased-drive';
import { purgeStalePending } from './pending-purge';
import { PreCheckedTransfers } from './pre-checked-memory';
import { type PreCheckInput, preCheckTransfer } from './pre-check';
import { listLatestTargets } from './recent-targets';
import {
  changeTransferLimit,
  getTransferLimit,
  type LimitChange,
  DEFAULT_MAX_LIMITS,
  prepareTransferLimitChange,
  type TransferLimitMaxima,
} from './transfer-limits';
import type { TransferDb } from './transfer.repository';
import type { FundingPort, LedgerPort, UserPort } from './upstream';

export type { ExecuteInput } from './execute';
export type { PreCheckInput } from './pre-check';
export {
  type ExecuteCode,
  type PreCheckCode,
  type SourceAccountCode,
  type TargetAccountCode,
  type TransferLimitCode,
  TransactionConflictError,
} from './transfer-errors';

export interface TransferDeps {
  db: TransferDb;
  ledger: LedgerPort;
  users: UserPort;
  interbank: InterbankDirectory;
  logger: Logger;
  /** The highest limits a customer may set (KFRM_TRANSFER_MAX_LIMIT_*); DEFAULT_MAX_LIMITS when absent. */
  maxLimits?: TransferLimitMaxima;
  now?: () => Date;
  /** How long one Execute may drive a transfer before another may take over (default 30 s). */
  leaseMs?: number;
  /** A concurrent duplicate re-reads the transfer this often (default 50 ms)… */
  waitMs?: number;
  /** …this many times before answering ABORTED (default 40, about 2 s). */
  maxWaits?: number;
  /** PENDING transfers older than this are purged (default a day; processes live minutes). */
  pendingRetentionMs?: number;
  /** Automatic top-up of a shortfall through the funding service (absent: none). */
  funding?: FundingPort;
}

/** The use cases, each a step module given its dependencies (defaults filled in here). */
export function createTransfers(deps: TransferDeps) {
  const { db, ledger, users, interbank, logger } = deps;
  const clock = deps.now ?? (() => new Date());
  const leaseMs = deps.leaseMs ?? 30_000;
  const waitMs = deps.waitMs ?? 50;
  // About 2 s: well inside a phone's deadline, so a call that waits on another answers ABORTED
  // ("retry") instead of running into DEADLINE_EXCEEDED.
  const maxWaits = deps.maxWaits ?? 40;
  const pendingRetentionMs = deps.pendingRetentionMs ?? 24 * 60 * 60_000;
  const lookup = { ledger, users, interbank };
  const limits = { ledger, users, logger, maxima: deps.maxLimits ?? DEFAULT_MAX_LIMITS };
  const funding = deps.funding;
  const leased: LeasedDriveDeps = { db, ledger, users, logger, clock, leaseMs, waitMs, maxWaits, ...(funding ? { funding } : {}) };
  // Shared by this instance's pre-checks and Executes; another instance or a restart starts empty.
  const preChecked = new PreCheckedTransfers(clock);

  return {
    purgeStalePending: () => purgeStalePending({ db, logger, clock, pendingRetentionMs }),
    listInstitutions: (): readonly InstitutionEntry[] => INSTITUTIONS,
    getSourceAccountInfo: (userId: string, accountNumber: string) => findSourceAccount(lookup, userId, accountNumber),
    getTargetAccountInfo: (institutionCode: string, accountNumber: string) => findTargetHolder(lookup, institutionCode, accountNumber),
    listLatestTargets: (userId: string) => listLatestTargets(db, userId),
    preCheck: (userId: string, input: PreCheckInput) =>
      preCheckTransfer({ ...lookup, db, logger, clock, preChecked, ...(funding ? { funding } : {}) }, userId, input),
    execute: (userId: string, input: ExecuteInput) => executeTransfer({ ...leased, preChecked }, userId, input),
    getTransferLimit: (userId: string, accountNumber: string) => getTransferLimit(limits, userId, accountNumber),
    prepareTransferLimitChange: (userId: string, change: LimitChange) => prepareTransferLimitChange(limits, userId, change),
    changeTransferLimit: (userId: string, change: LimitChange & { processId: string }) => changeTransferLimit(limits, userId, change),
  };
}

export type Transfers = ReturnType<typeof createTransfers>;

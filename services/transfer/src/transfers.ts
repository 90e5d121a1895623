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
 */
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConcurrentUpdateError, type DomainError, failWith, InvalidArgumentError, UpstreamRefusal } from '@kfrm/errors';
import type { Logger } from '@kfrm/logging';
import {
  isWellFormedAccountNumber,
  isWellFormedInstitutionCode,
  maskName,
  processContext,
  signedContent,
  type TransferTerms,
} from './canonical';
import { findInstitution, INSTITUTIONS, OWN_INSTITUTION_CODE, type InstitutionEntry } from './institutions';
import type { InterbankDirectory } from './interbank-directory';
import {
  deletePendingBefore,
  findTransfer,
  findTransferByProcess,
  insertPendingTransfer,
  listRecentTargets,
  markExecuting,
  markFailed,
  markSucceeded,
  releaseLease,
  sumCommittedSince,
  takeLease,
  type RecentTarget,
  type TransferDb,
  type TransferRow,
} from './transfer.repository';
import type { LedgerPort, LedgerRefusalCode, TransferEvent, UserPort } from './upstream';
import type { AuthenticationProcess } from '@kfrm/proto/gen/kfrm/api/common/common';

export interface TransferDeps {
  db: TransferDb;
  ledger: LedgerPort;
  users: UserPort;
  interbank: InterbankDirectory;
  logger: Logger;
  now?: () => Date;
  /** How long one Execute may drive a transfer before another may take over (default 30 s). */
  leaseMs?: number;
  /** A concurrent duplicate re-reads the transfer this often (default 50 ms)… */
  waitMs?: number;
  /** …this many times before answering ABORTED (default 200). */
  maxWaits?: number;
  /** PENDING transfers older than this are purged (default a day; processes live minutes). */
  pendingRetentionMs?: number;
}

/** Another call is executing the same transfer right now (ABORTED: retry the call). */
export class TransactionConflictError extends ConcurrentUpdateError {
  override name = 'TransactionConflictError';
}

const MAX_MEMO_CHARS = 50;
const MAX_SIGNED_DATA_CHARS = 64 * 1024;
const MAX_PROCESS_ID_CHARS = 64;
const LATEST_TARGETS = 10;
/** Korea has no daylight saving time: the business day starts at 00:00 UTC+9. */
const KST_OFFSET_MS = 9 * 60 * 60_000;

/**
 * Every reason an Execute is not authorised answers the same (CommonApiError
 * DIGITAL_SIGNATURE_VERIFICATION_FAILED, PERMISSION_DENIED): unknown process, another user's,
 * not DONE, signature_info not matching the transfer, signature not verifying. One answer, so
 * nobody learns which processes exist.
 */
const notAuthorised = () => executeFailed('DIGITAL_SIGNATURE_VERIFICATION_FAILED', 'the transfer could not be authorised');

/*
 * The seed codes each use case raises. The handlers' policies check every union against the
 * method's ApiError enum (plus CommonApiError) at compile time, and each use case throws through
 * a maker bound to its union, so a code a method cannot answer does not compile.
 */
export type SourceAccountCode = 'INVALID_SOURCE_ACCOUNT';
export type TargetAccountCode = 'NOT_VALID_ACCOUNT' | 'BLOCKED_ACCOUNT';
export type PreCheckCode = 'INVALID_SOURCE_ACCOUNT' | 'INVALID_TARGET_INSTITUTION' | 'INVALID_TARGET_ACCOUNT' | 'INSUFFICIENT_BALANCE';
export type ExecuteCode =
  | 'DIGITAL_SIGNATURE_VERIFICATION_FAILED'
  | 'INSUFFICIENT_BALANCE'
  | 'INVALID_SOURCE_ACCOUNT'
  | 'INVALID_TARGET_ACCOUNT'
  | 'UNKNOWN'
  | 'IDEMPOTENCY_KEY_REUSED';

const sourceFailed = failWith<SourceAccountCode>();
const targetFailed = failWith<TargetAccountCode>();
const preCheckFailed = failWith<PreCheckCode>();
const executeFailed = failWith<ExecuteCode>();

/**
 * Every refusal of the ledger's PostTransfer, and how Execute answers it. `final`: the transfer
 * ends FAILED (the ledger posted nothing). A record, so a code the ledger gains does not compile
 * until someone decides what Execute says for it.
 */
const LEDGER_REFUSALS: Readonly<Record<LedgerRefusalCode, { answer: ExecuteCode; final: boolean }>> = {
  INSUFFICIENT_BALANCE: { answer: 'INSUFFICIENT_BALANCE', final: true },
  // The seed has no limit code: a transfer over a limit is "more than can be sent now".
  TRANSFER_LIMIT_EXCEEDED: { answer: 'INSUFFICIENT_BALANCE', final: true },
  INVALID_SOURCE_ACCOUNT: { answer: 'INVALID_SOURCE_ACCOUNT', final: true },
  INVALID_TARGET_ACCOUNT: { answer: 'INVALID_TARGET_ACCOUNT', final: true },
  INVALID_AMOUNT: { answer: 'UNKNOWN', final: true },
  // A posting under this transfer's id with another body: money may have moved (see runLeased).
  IDEMPOTENCY_KEY_REUSED: { answer: 'IDEMPOTENCY_KEY_REUSED', final: false },
};

/** The answer for a transfer recorded FAILED with the ledger's `code` (as stored). */
function failureError(code: string): DomainError<ExecuteCode> {
  const refusal = LEDGER_REFUSALS[code as LedgerRefusalCode] as (typeof LEDGER_REFUSALS)[LedgerRefusalCode] | undefined;
  return executeFailed(refusal?.final ? refusal.answer : 'UNKNOWN', 'the transfer was refused');
}

export interface PreCheckInput {
  sourceAccountNumber: string;
  targetAccountNumber: string;
  targetInstitutionCode: string;
  /** Already checked: positive whole KRW within int64 (canonical.krwAmount). */
  amountMinor: bigint;
  recipientVisibleMessage: string;
  selfVisibleMessage: string;
}

export interface ExecuteInput {
  processId: string;
  signature:
    | {
        signedData: string;
        sourceAccountNumber: string;
        targetAccountNumber: string;
        targetInstitutionCode: string;
        /** undefined when the request's amount is not a whole positive KRW amount. */
        amountMinor: bigint | undefined;
      }
    | undefined;
}

type Target = { ok: true; holderName: string; ownerUserId: string | null } | { ok: false; code: 'NOT_VALID_ACCOUNT' | 'BLOCKED_ACCOUNT' };

/** Digits kept for logs: the last four. */
const tail = (accountNumber: string) => `…${accountNumber.slice(-4)}`;

export function startOfBusinessDay(now: Date): Date {
  const local = new Date(now.getTime() + KST_OFFSET_MS);
  return new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate()) - KST_OFFSET_MS);
}

export function createTransfers(deps: TransferDeps) {
  const { db, ledger, users, interbank, logger } = deps;
  const clock = deps.now ?? (() => new Date());
  const leaseMs = deps.leaseMs ?? 30_000;
  const waitMs = deps.waitMs ?? 50;
  // About 2 s: well inside a phone's deadline, so a call that waits on another answers ABORTED
  // ("retry") instead of running into DEADLINE_EXCEEDED.
  const maxWaits = deps.maxWaits ?? 40;
  const pendingRetentionMs = deps.pendingRetentionMs ?? 24 * 60 * 60_000;

  async function resolveTarget(institutionCode: string, accountNumber: string): Promise<Target> {
    if (!isWellFormedAccountNumber(accountNumber)) return { ok: false, code: 'NOT_VALID_ACCOUNT' };
    if (institutionCode === OWN_INSTITUTION_CODE) {
      const account = await ledger.getTransferTarget(accountNumber);
      if (account?.currency !== 'KRW') return { ok: false, code: 'NOT_VALID_ACCOUNT' };
      const name = await users.findUserName(account.ownerUserId);
      if (name === undefined) return { ok: false, code: 'NOT_VALID_ACCOUNT' };
      return { ok: true, holderName: maskName(name), ownerUserId: account.ownerUserId };
    }
    const found = await interbank.lookup(institutionCode, accountNumber);
    return found.ok ? { ok: true, holderName: maskName(found.holderName), ownerUserId: null } : { ok: false, code: found.reason };
  }

  /** The signature is the one that authorised the transfer, or verifies afresh over its bytes. */
  async function authorised(t: TransferRow, userId: string, signedData: string, sha256: string): Promise<boolean> {
    if (t.signature_sha256 === sha256) return true;
    const process = await users.getProcess({ processId: t.process_id, userId, signedData, originData: t.signed_content });
    return process !== undefined && process.status === 'DONE' && process.verified;
  }

  function outcome(t: TransferRow): 'done' {
    if (t.state === 'FAILED') throw failureError(t.failure_code ?? 'UNKNOWN');
    return 'done';
  }

  /** One call holds the lease: consume the process (once), post (idempotent), record the end. */
  async function runLeased(t: TransferRow, owner: string): Promise<void> {
    const log = logger.child({ transfer_id: t.id, user_id: t.user_id });
    try {
      const consumed = await users.consumeTransferProcess({ processId: t.process_id, userId: t.user_id, context: t.process_context });
      // 'refused' / 'not-found' here means this transfer consumed it before a crash or a lost
      // answer (its context names this transfer id, so nothing else can have), or it expired
      // since: EXECUTING was only reached with a DONE, verified process, so the decision stands.
      if (consumed !== 'consumed') log.info({ consumed }, 'process already consumed or gone; continuing the decided transfer');
      const amount = BigInt(t.amount_minor);
      const internal = t.target_institution_code === OWN_INSTITUTION_CODE;
      // Facts only; the notification service words them. The recipient sees the credit memo,
      // which already names the sender when the sender left no message.
      const events: TransferEvent[] = [{ userId: t.user_id, kind: 'TRANSFER_OUT', counterpartyName: t.target_holder_name }];
      if (internal && t.target_owner_user_id) events.push({ userId: t.target_owner_user_id, kind: 'TRANSFER_IN', counterpartyName: '' });
      const posted = await ledger.postTransfer({
        idempotencyKey: t.id,
        fromAccountNumber: t.source_account_number,
        toAccountNumber: internal ? t.target_account_number : undefined,
        amountMinor: amount,
        debitMemo: t.debit_memo,
        creditMemo: t.credit_memo,
        sourceOwnerUserId: t.user_id,
        events,
      });
      await markSucceeded(db, t.id, posted.entryId, clock());
      log.info({ entry_id: posted.entryId.toString(), internal }, 'transfer succeeded');
    } catch (err) {
      const refusal = err instanceof UpstreamRefusal ? LEDGER_REFUSALS[err.code as LedgerRefusalCode] : undefined;
      if (refusal?.final) {
        const code = (err as UpstreamRefusal).code;
        await markFailed(db, t.id, owner, code, clock());
        log.info({ code }, 'transfer refused by the ledger');
        throw executeFailed(refusal.answer, 'the transfer was refused');
      }
      if (refusal) {
        // The ledger holds a posting under this transfer's id with another body: an earlier
        // attempt (answer lost) sent by a release that built the posting differently. Money may
        // have moved, so it is neither FAILED nor SUCCEEDED: it stays EXECUTING for an operator.
        log.error({ err }, 'the ledger holds this transfer with another body; left EXECUTING to reconcile');
        await releaseLease(db, t.id, owner).catch((e: unknown) => {
          log.warn({ err: e }, 'could not release the transfer lease; retrying until it expires');
          releaseLater(t.id, owner, Date.now() + leaseMs);
        });
        throw executeFailed(refusal.answer, 'this transfer was already submitted with other details', { cause: err });
      }
      // Outcome unknown (or a bug): stays EXECUTING for the next Execute; let it start at once.
      // When the database itself is what failed, the release fails too: keep trying in the
      // background, so the retry after the outage does not wait for the lease to run out.
      await releaseLease(db, t.id, owner).catch((e: unknown) => {
        log.warn({ err: e }, 'could not release the transfer lease; retrying until it expires');
        releaseLater(t.id, owner, Date.now() + leaseMs);
      });
      throw err;
    }
  }

  function releaseLater(transferId: string, owner: string, until: number): void {
    const attempt = () => {
      if (Date.now() > until) return;
      releaseLease(db, transferId, owner).catch(() => setTimeout(attempt, 250).unref());
    };
    setTimeout(attempt, 250).unref();
  }

  async function drive(t: TransferRow): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const owner = randomUUID();
      const now = clock();
      if (await takeLease(db, t.id, owner, now, new Date(now.getTime() + leaseMs))) return runLeased(t, owner);
      const current = await findTransfer(db, t.id);
      if (current && (current.state === 'SUCCEEDED' || current.state === 'FAILED')) {
        outcome(current);
        return;
      }
      if (attempt >= maxWaits) throw new TransactionConflictError('the transfer is being executed by another call');
      await sleep(waitMs);
    }
  }

  return {
    /** Housekeeping: drops pre-checked transfers that were never executed and can no longer be. */
    async purgeStalePending(): Promise<number> {
      const purged = await deletePendingBefore(db, new Date(clock().getTime() - pendingRetentionMs));
      if (purged > 0) logger.info({ purged }, 'stale pending transfers purged');
      return purged;
    },

    listInstitutions(): readonly InstitutionEntry[] {
      return INSTITUTIONS;
    },

    /** The user's own account; another user's or an unknown one: INVALID_SOURCE_ACCOUNT alike. */
    async getSourceAccountInfo(userId: string, accountNumber: string) {
      const account = isWellFormedAccountNumber(accountNumber) ? await ledger.getAccountForOwner(userId, accountNumber) : undefined;
      if (!account) throw sourceFailed('INVALID_SOURCE_ACCOUNT', 'the source account is not valid');
      return account;
    },

    /** The target's holder, masked (홍*동): our accounts through the ledger, others through the interbank directory. */
    async getTargetAccountInfo(institutionCode: string, accountNumber: string): Promise<{ accountNumber: string; holderName: string }> {
      if (!isWellFormedInstitutionCode(institutionCode) || !findInstitution(institutionCode))
        throw targetFailed('NOT_VALID_ACCOUNT', 'the account is not valid');
      const target = await resolveTarget(institutionCode, accountNumber);
      if (!target.ok)
        throw targetFailed(target.code, target.code === 'BLOCKED_ACCOUNT' ? 'the account is blocked' : 'the account is not valid');
      return { accountNumber, holderName: target.holderName };
    },

    async listLatestTargets(userId: string): Promise<(RecentTarget & { institution: InstitutionEntry })[]> {
      const targets = await listRecentTargets(db, userId, LATEST_TARGETS);
      return targets.flatMap((t) => {
        const institution = findInstitution(t.institutionCode);
        return institution ? [{ ...t, institution }] : [];
      });
    },

    /**
     * Checks the transfer and starts its TRANSFER authentication process. Errors:
     * INVALID_SOURCE_ACCOUNT, INVALID_TARGET_INSTITUTION, INVALID_TARGET_ACCOUNT,
     * INSUFFICIENT_BALANCE (also for an amount over the per-transaction or daily limit).
     */
    async preCheck(userId: string, input: PreCheckInput): Promise<{ transferId: string; process: AuthenticationProcess }> {
      for (const [name, memo] of [
        ['recipient_visible_message', input.recipientVisibleMessage],
        ['self_visible_message', input.selfVisibleMessage],
      ] as const) {
        if (Array.from(memo).length > MAX_MEMO_CHARS) throw new InvalidArgumentError(`${name} is longer than ${MAX_MEMO_CHARS} characters`);
      }
      if (!isWellFormedAccountNumber(input.sourceAccountNumber))
        throw preCheckFailed('INVALID_SOURCE_ACCOUNT', 'the source account is not valid');
      if (!findInstitution(input.targetInstitutionCode))
        throw preCheckFailed('INVALID_TARGET_INSTITUTION', 'the target institution is not valid');
      const source = await ledger.getAccountForOwner(userId, input.sourceAccountNumber);
      if (source?.currency !== 'KRW') throw preCheckFailed('INVALID_SOURCE_ACCOUNT', 'the source account is not valid');
      const internal = input.targetInstitutionCode === OWN_INSTITUTION_CODE;
      if (internal && input.targetAccountNumber === input.sourceAccountNumber)
        throw preCheckFailed('INVALID_TARGET_ACCOUNT', 'the target account is not valid');
      const target = await resolveTarget(input.targetInstitutionCode, input.targetAccountNumber);
      if (!target.ok) throw preCheckFailed('INVALID_TARGET_ACCOUNT', 'the target account is not valid');

      const amount = input.amountMinor;
      if (amount > source.balanceMinor) throw preCheckFailed('INSUFFICIENT_BALANCE', 'the balance is not sufficient');
      if (source.limitPerTransactionMinor !== null && amount > source.limitPerTransactionMinor) {
        throw preCheckFailed('INSUFFICIENT_BALANCE', 'the amount is over the per-transaction limit');
      }
      const now = clock();
      if (source.limitPerDayMinor !== null) {
        // What this service has sent today; the ledger enforces the limit exactly at posting.
        const sentToday = await sumCommittedSince(db, userId, source.accountNumber, startOfBusinessDay(now));
        if (sentToday + amount > source.limitPerDayMinor)
          throw preCheckFailed('INSUFFICIENT_BALANCE', 'the amount is over the daily limit');
      }

      const senderName = input.recipientVisibleMessage.trim() === '' ? ((await users.findUserName(userId)) ?? '') : '';
      const terms: TransferTerms = {
        sourceAccountNumber: source.accountNumber,
        targetInstitutionCode: input.targetInstitutionCode,
        targetAccountNumber: input.targetAccountNumber,
        currency: 'KRW',
        amountMinor: amount,
      };
      const transferId = randomUUID();
      const context = processContext(transferId, terms);
      const process = await users.createTransferProcess(userId, context);
      await insertPendingTransfer(db, {
        id: transferId,
        userId,
        ...terms,
        targetHolderName: target.holderName,
        targetOwnerUserId: target.ownerUserId,
        debitMemo: input.selfVisibleMessage.trim() || target.holderName,
        creditMemo: input.recipientVisibleMessage.trim() || senderName,
        processId: process.processId,
        processContext: context,
        signedContent: signedContent(process.processId, terms),
        createdAt: now,
      });
      logger.info(
        {
          transfer_id: transferId,
          user_id: userId,
          source: tail(source.accountNumber),
          institution: terms.targetInstitutionCode,
          internal,
        },
        'transfer pre-checked',
      );
      return { transferId, process };
    },

    /**
     * Executes the pre-checked transfer of this process. A retry (same process, same signed
     * transfer) answers what the first call answered and moves no more money.
     */
    async execute(userId: string, input: ExecuteInput): Promise<void> {
      const sig = input.signature;
      if (input.processId === '' || input.processId.length > MAX_PROCESS_ID_CHARS || !sig) throw notAuthorised();
      if (sig.signedData === '' || sig.signedData.length > MAX_SIGNED_DATA_CHARS) throw notAuthorised();
      let t = await findTransferByProcess(db, input.processId);
      if (!t || t.user_id !== userId) throw notAuthorised();
      // The app says what it signed; it must be exactly this transfer.
      if (
        sig.sourceAccountNumber !== t.source_account_number ||
        sig.targetAccountNumber !== t.target_account_number ||
        sig.targetInstitutionCode !== t.target_institution_code ||
        sig.amountMinor !== BigInt(t.amount_minor)
      ) {
        throw notAuthorised();
      }
      const sha256 = createHash('sha256').update(sig.signedData).digest('hex');

      if (t.state === 'PENDING') {
        const process = await users.getProcess({
          processId: t.process_id,
          userId,
          signedData: sig.signedData,
          originData: t.signed_content,
        });
        if (process?.status !== 'DONE' || !process.verified) {
          logger.info(
            { transfer_id: t.id, user_id: userId, status: process?.status, verified: process?.verified },
            'transfer not authorised',
          );
          throw notAuthorised();
        }
        if (await markExecuting(db, t.id, sha256, clock())) logger.info({ transfer_id: t.id, user_id: userId }, 'transfer authorised');
        const current = await findTransfer(db, t.id);
        // Purged meanwhile (only ever a long-expired PENDING one): nothing to execute.
        if (!current) throw notAuthorised();
        t = current;
      }
      if (!(await authorised(t, userId, sig.signedData, sha256))) throw notAuthorised();
      if (t.state === 'SUCCEEDED' || t.state === 'FAILED') {
        outcome(t);
        return;
      }
      await drive(t);
    },
  };
}

export type Transfers = ReturnType<typeof createTransfers>;

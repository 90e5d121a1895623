/**
 * Driving an EXECUTING transfer to its end, one caller at a time: whoever holds the lease on the
 * row consumes the process, posts to the ledger (idempotency key = transfer id) and records the
 * end; a concurrent duplicate waits for that outcome.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { UpstreamRefusal } from '@kfrm/errors';
import type { Logger } from '@kfrm/logging';
import { OWN_INSTITUTION_CODE } from './institutions';
import { executeFailed, LEDGER_REFUSALS, outcome, TransactionConflictError } from './transfer-errors';
import { findTransfer, markFailed, markSucceeded, releaseLease, takeLease, type TransferDb, type TransferRow } from './transfer.repository';
import { topUpShortfall } from './auto-top-up';
import type { FundingPort, LedgerPort, LedgerRefusalCode, TransferEvent, UserPort } from './upstream';

export interface LeasedDriveDeps {
  db: TransferDb;
  ledger: LedgerPort;
  users: UserPort;
  logger: Logger;
  clock: () => Date;
  /** How long one Execute may drive a transfer before another may take over. */
  leaseMs: number;
  /** A concurrent duplicate re-reads the transfer this often… */
  waitMs: number;
  /** …this many times before answering ABORTED. */
  maxWaits: number;
  /** Automatic top-up of a shortfall (absent: none). */
  funding?: FundingPort;
}

/** Takes the lease and drives the transfer, or waits for the holder's outcome (ABORTED after maxWaits). */
export async function driveUnderLease(deps: LeasedDriveDeps, t: TransferRow): Promise<void> {
  const { db, clock, leaseMs, waitMs, maxWaits } = deps;
  for (let attempt = 0; ; attempt++) {
    const owner = randomUUID();
    const now = clock();
    if (await takeLease(db, t.id, owner, now, new Date(now.getTime() + leaseMs))) return runLeased(deps, t, owner);
    const current = await findTransfer(db, t.id);
    if (current && (current.state === 'SUCCEEDED' || current.state === 'FAILED')) {
      outcome(current);
      return;
    }
    if (attempt >= maxWaits) throw new TransactionConflictError('the transfer is being executed by another call');
    await sleep(waitMs);
  }
}

/** One call holds the lease: consume the process (once), post (idempotent), record the end. */
export async function runLeased(deps: LeasedDriveDeps, t: TransferRow, owner: string, processConsumed = false): Promise<void> {
  const { db, ledger, users, logger, clock, leaseMs } = deps;
  const log = logger.child({ transfer_id: t.id, user_id: t.user_id });
  try {
    // Consumed at the decision (by the same call that read the process) unless the user service
    // predates that, or this call took over an EXECUTING transfer (crash, lost answer).
    const consumed = processConsumed
      ? 'consumed'
      : await users.consumeTransferProcess({ processId: t.process_id, userId: t.user_id, context: t.process_context });
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
    const post = () =>
      ledger.postTransfer({
        idempotencyKey: t.id,
        fromAccountNumber: t.source_account_number,
        toAccountNumber: internal ? t.target_account_number : undefined,
        amountMinor: amount,
        debitMemo: t.debit_memo,
        creditMemo: t.credit_memo,
        sourceOwnerUserId: t.user_id,
        events,
      });
    let posted;
    try {
      posted = await post();
    } catch (err) {
      // Short of money: the user's automatic top-up may cover it (a refused posting stored
      // nothing, so the same key posts again); otherwise the refusal stands.
      const short = err instanceof UpstreamRefusal && err.code === 'INSUFFICIENT_BALANCE';
      if (
        !short ||
        !(await topUpShortfall(deps, { id: t.id, userId: t.user_id, accountNumber: t.source_account_number, amountMinor: amount }))
      )
        throw err;
      posted = await post();
    }
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
        releaseLater(db, t.id, owner, Date.now() + leaseMs);
      });
      throw executeFailed(refusal.answer, 'this transfer was already submitted with other details', { cause: err });
    }
    // Outcome unknown (or a bug): stays EXECUTING for the next Execute; let it start at once.
    // When the database itself is what failed, the release fails too: keep trying in the
    // background, so the retry after the outage does not wait for the lease to run out.
    await releaseLease(db, t.id, owner).catch((e: unknown) => {
      log.warn({ err: e }, 'could not release the transfer lease; retrying until it expires');
      releaseLater(db, t.id, owner, Date.now() + leaseMs);
    });
    throw err;
  }
}

function releaseLater(db: TransferDb, transferId: string, owner: string, until: number): void {
  const attempt = () => {
    if (Date.now() > until) return;
    releaseLease(db, transferId, owner).catch(() => setTimeout(attempt, 250).unref());
  };
  setTimeout(attempt, 250).unref();
}

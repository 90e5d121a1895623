/**
 * Execute: checks that the caller's signed request authorises the pre-checked transfer, takes the
 * decision (PENDING → EXECUTING) and hands the transfer to the leased drive; a transfer that has
 * ended answers its outcome again.
 */
import { createHash, randomUUID } from 'node:crypto';
import { driveUnderLease, runLeased, type LeasedDriveDeps } from './leased-drive';
import { executeFailed, notAuthorised, outcome } from './transfer-errors';
import { MAX_VISIBLE_MESSAGE_CHARS, visibleMessage } from './visible-message';
import { findTransfer, findTransferByProcess, markExecutingLeased, type TransferRow } from './transfer.repository';
import type { UserPort } from './upstream';

export type ExecuteDeps = LeasedDriveDeps;

export interface ExecuteInput {
  processId: string;
  /**
   * The seed's memos as Execute carries them. Non-empty ones replace what GetPreCheck stored,
   * at the decision (PENDING → EXECUTING) and only then: once decided, the statement lines are
   * the ones posted. Empty or absent: the pre-check's stand.
   */
  recipientVisibleMessage?: string;
  selfVisibleMessage?: string;
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

const MAX_SIGNED_DATA_CHARS = 64 * 1024;
const MAX_PROCESS_ID_CHARS = 64;

/** The signature is the one that authorised the transfer, or verifies afresh over its bytes. */
async function authorised(users: UserPort, t: TransferRow, userId: string, signedData: string, sha256: string): Promise<boolean> {
  if (t.signature_sha256 === sha256) return true;
  const process = await users.getProcess({ processId: t.process_id, userId, signedData, originData: t.signed_content });
  return process !== undefined && process.status === 'DONE' && process.verified;
}

/**
 * Executes the pre-checked transfer of this process. A retry (same process, same signed
 * transfer) answers what the first call answered and moves no more money.
 */
export async function executeTransfer(deps: ExecuteDeps, userId: string, input: ExecuteInput): Promise<void> {
  const { db, users, logger, clock } = deps;
  const recipientMessage = visibleMessage(input.recipientVisibleMessage ?? '');
  const selfMessage = visibleMessage(input.selfVisibleMessage ?? '');
  if (recipientMessage === undefined || selfMessage === undefined) {
    throw executeFailed(
      'INVALID_VISIBLE_MESSAGE',
      `a visible message is longer than ${MAX_VISIBLE_MESSAGE_CHARS} characters or holds control characters`,
    );
  }
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
      logger.info({ transfer_id: t.id, user_id: userId, status: process?.status, verified: process?.verified }, 'transfer not authorised');
      throw notAuthorised();
    }
    // The recipient's standing again, at the decision: a member BLOCKED (or withdrawn) since the
    // pre-check receives nothing. Checked only before EXECUTING: after it the money may already
    // have moved (a retry after a lost answer), and the decision stands. Left PENDING: nothing
    // was written, and the same signed request may be sent again once the member is active.
    if (t.target_owner_user_id !== null && (await users.findHolder(t.target_owner_user_id))?.standing !== 'ACTIVE') {
      logger.info({ transfer_id: t.id, user_id: userId }, 'transfer refused: the recipient does not receive');
      throw executeFailed('INVALID_TARGET_ACCOUNT', 'the target account is not valid');
    }
    // The decision and the lease to carry it out, together: the caller that decides drives at once.
    const memos = { debitMemo: selfMessage || undefined, creditMemo: recipientMessage || undefined };
    const owner = randomUUID();
    const now = clock();
    const decided = await markExecutingLeased(db, t.id, sha256, now, owner, new Date(now.getTime() + deps.leaseMs), memos);
    if (decided) {
      logger.info({ transfer_id: t.id, user_id: userId }, 'transfer authorised');
      return runLeased(deps, decided, owner);
    }
    // Another call decided first: its outcome, or the lease after it, as for any retry.
    const current = await findTransfer(db, t.id);
    // Purged meanwhile (only ever a long-expired PENDING one): nothing to execute.
    if (!current) throw notAuthorised();
    t = current;
  }
  if (!(await authorised(users, t, userId, sig.signedData, sha256))) throw notAuthorised();
  if (t.state === 'SUCCEEDED' || t.state === 'FAILED') {
    outcome(t);
    return;
  }
  await driveUnderLease(deps, t);
}

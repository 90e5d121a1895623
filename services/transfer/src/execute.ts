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
import type { PreCheckedFacts, PreCheckedTransfers } from './pre-checked-memory';
import type { UserPort } from './upstream';

export type ExecuteDeps = LeasedDriveDeps & {
  /** This process's memory of its pre-checks (absent: every Execute reads the transfer). */
  preChecked?: PreCheckedTransfers;
};

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

const factsOf = (t: TransferRow): PreCheckedFacts => ({
  id: t.id,
  userId: t.user_id,
  sourceAccountNumber: t.source_account_number,
  targetInstitutionCode: t.target_institution_code,
  targetAccountNumber: t.target_account_number,
  amountMinor: BigInt(t.amount_minor),
  processId: t.process_id,
  processContext: t.process_context,
  signedContent: t.signed_content,
  targetOwnerUserId: t.target_owner_user_id,
});

type Decision = { ok: true; row: TransferRow; owner: string; processConsumed: boolean } | { ok: false; refusal?: Error };

/**
 * The decision of a transfer believed PENDING: the process is DONE and the signature verifies,
 * the recipient still receives, then PENDING → EXECUTING with the lease, in one conditional
 * statement. `refusal` when the caller may not decide; neither when another call decided first.
 */
async function decide(
  deps: ExecuteDeps,
  f: PreCheckedFacts,
  userId: string,
  signedData: string,
  sha256: string,
  memos: { debitMemo?: string | undefined; creditMemo?: string | undefined },
  options: { quiet: boolean },
): Promise<Decision> {
  const { db, users, logger, clock } = deps;
  // Not for the sender's own account: the money stays with the customer who just authenticated
  // and signed (a member BLOCKED or withdrawn has no session, so cannot be here).
  const recipient = f.targetOwnerUserId !== null && f.targetOwnerUserId !== userId ? f.targetOwnerUserId : undefined;
  // Read and consumed in one call: the user service consumes only after the signature verified,
  // and answers consumed for a process this transfer already used (a retry after a refusal below
  // or a lost decision), so every outcome is the one of reading it and consuming at the drive.
  // The recipient's status comes from the same statement (ADR 0018).
  const process = await users.getProcess({
    processId: f.processId,
    userId,
    signedData,
    originData: f.signedContent,
    consumeContext: f.processContext,
    recipientUserId: recipient,
  });
  if (process?.status !== 'DONE' || !process.verified) {
    if (!options.quiet)
      logger.info({ transfer_id: f.id, user_id: userId, status: process?.status, verified: process?.verified }, 'transfer not authorised');
    return { ok: false, refusal: notAuthorised() };
  }
  // The recipient's standing again, at the decision: a member BLOCKED (or withdrawn) since the
  // pre-check receives nothing. Checked only before EXECUTING: after it the money may already
  // have moved (a retry after a lost answer), and the decision stands. Left PENDING: nothing
  // was written, and the same signed request may be sent again once the member is active.
  // A user service that does not answer the standing (older) leaves it to findHolder, as before.
  // null (no such user) is refused like a standing other than ACTIVE.
  const receives = async (recipient: string) =>
    (process.recipientStanding !== undefined ? process.recipientStanding : (await users.findHolder(recipient))?.standing) === 'ACTIVE';
  if (recipient !== undefined && !(await receives(recipient))) {
    if (!options.quiet) logger.info({ transfer_id: f.id, user_id: userId }, 'transfer refused: the recipient does not receive');
    return { ok: false, refusal: executeFailed('INVALID_TARGET_ACCOUNT', 'the target account is not valid') };
  }
  // The decision and the lease to carry it out, together: the caller that decides drives at once.
  const owner = randomUUID();
  const now = clock();
  const decided = await markExecutingLeased(db, f.id, sha256, now, owner, new Date(now.getTime() + deps.leaseMs), memos);
  if (!decided) return { ok: false };
  logger.info({ transfer_id: f.id, user_id: userId }, 'transfer authorised');
  return { ok: true, row: decided, owner, processConsumed: process.consumed === true };
}

/**
 * Executes the pre-checked transfer of this process. A retry (same process, same signed
 * transfer) answers what the first call answered and moves no more money.
 */
export async function executeTransfer(deps: ExecuteDeps, userId: string, input: ExecuteInput): Promise<void> {
  const { db, users } = deps;
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
  const sha256 = createHash('sha256').update(sig.signedData).digest('hex');
  const memos = { debitMemo: selfMessage || undefined, creditMemo: recipientMessage || undefined };
  // The app says what it signed; it must be exactly this transfer.
  const signedTerms = (f: PreCheckedFacts) =>
    f.userId === userId &&
    sig.sourceAccountNumber === f.sourceAccountNumber &&
    sig.targetAccountNumber === f.targetAccountNumber &&
    sig.targetInstitutionCode === f.targetInstitutionCode &&
    sig.amountMinor === f.amountMinor;

  // Pre-checked by this process: its facts stand in for reading the row, for the decision only.
  // Anything but a decision taken here (refused, or decided by another call) is answered from
  // the row below, exactly as without the memory.
  const remembered = deps.preChecked?.take(input.processId);
  if (remembered && signedTerms(remembered)) {
    const decided = await decide(deps, remembered, userId, sig.signedData, sha256, memos, { quiet: true });
    if (decided.ok) return runLeased(deps, decided.row, decided.owner, decided.processConsumed);
  }

  let t = await findTransferByProcess(db, input.processId);
  if (!t) throw notAuthorised();
  const facts = factsOf(t);
  if (!signedTerms(facts)) throw notAuthorised();

  if (t.state === 'PENDING') {
    const decided = await decide(deps, facts, userId, sig.signedData, sha256, memos, { quiet: false });
    if (decided.ok) return runLeased(deps, decided.row, decided.owner, decided.processConsumed);
    if (decided.refusal) throw decided.refusal;
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

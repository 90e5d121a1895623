/**
 * Use cases: top-up from a linked bank account into a KRW account, and withdrawal from a KRW
 * account to a linked bank account, through Konaplate (ASSUMED charge/withdraw API) and the
 * ledger's settlement account.
 *
 * Order of steps (docs/reliability.md, "Top-up and withdrawal"), each recorded on the pending
 * row before the next, so a crash or a lost answer at any point leaves a row that is resolved
 * by retrying the same step — never by guessing:
 * - top-up: pending row → Konaplate charge (tranId) → ledger credit from settlement → SETTLED;
 *   a refused charge → FAILED (nothing moved anywhere);
 * - withdrawal: pending row → ledger debit to settlement (the money is reserved) → Konaplate
 *   withdraw (tranId) → SETTLED; a refused withdraw → ledger credit back → FAILED.
 * A timeout or 5xx from Konaplate leaves the row PENDING with the outcome unknown; the
 * background job (resolvePendingMovements) asks Konaplate's transaction inquiry and either
 * records the answer or, when Konaplate never received the tranId, sends it again (Konaplate is
 * idempotent by tranId). Ledger postings are idempotent by keys derived from the row id.
 * One caller at a time drives a row: it holds the row's lease, and every write checks it.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { failWith, isDomainError, UpstreamRefusal, UpstreamUnavailableError } from '@kfrm/errors';
import { KonaplateError, MAX_MOVEMENT_AMOUNT, type RegisteredBankAccount, type TransactionStatus } from '@kfrm/konaplate';
import { maskAccountNumber } from '@kfrm/logging';
import { fromKonaplate } from './external-errors';
import type { FundingContext } from './funding.context';
import { findAutoTopUpAccount, findLinkedAccount } from './funding.repository';
import type { MoneyMovementKind } from './funding.table';
import { knownKonaplateMemberId } from './konaplate-member';
import type { LedgerCreditRefusal, LedgerDebitRefusal } from './ledger-port';
import {
  findMovement,
  findMovementByExternalId,
  insertPendingMovement,
  leaseMovement,
  leaseNextStaleMovement,
  recordStep,
  releaseMovementLease,
  sumTopUpsOfDay,
  type MoneyMovementRow,
  type MovementChange,
} from './money-movement.repository';

/** The codes TopUp answers. */
export type TopUpCode =
  | 'ACCOUNT_NOT_FOUND'
  | 'LINKED_ACCOUNT_NOT_FOUND'
  | 'ACCOUNT_NOT_LINKED'
  | 'INVALID_AMOUNT'
  | 'INVALID_EXTERNAL_TRANSACTION_ID'
  | 'EXTERNAL_TRANSACTION_ID_REUSED'
  | 'TOP_UP_DAILY_LIMIT_EXCEEDED'
  | 'TOP_UP_REFUSED'
  | 'BANK_UNAVAILABLE'
  | 'EXTERNAL_SERVICE_UNAVAILABLE'
  | 'EXTERNAL_SERVICE_FAILED';

/** The codes Withdraw answers. */
export type WithdrawCode =
  | 'ACCOUNT_NOT_FOUND'
  | 'LINKED_ACCOUNT_NOT_FOUND'
  | 'ACCOUNT_NOT_LINKED'
  | 'INVALID_AMOUNT'
  | 'INVALID_EXTERNAL_TRANSACTION_ID'
  | 'EXTERNAL_TRANSACTION_ID_REUSED'
  | 'INSUFFICIENT_BALANCE'
  | 'TRANSFER_LIMIT_EXCEEDED'
  | 'WITHDRAWAL_REFUSED'
  | 'BANK_UNAVAILABLE'
  | 'EXTERNAL_SERVICE_UNAVAILABLE'
  | 'EXTERNAL_SERVICE_FAILED';

/** Why a movement failed, as stored on the row and answered again to every repeat of the request. */
type FailureCode = Extract<
  TopUpCode | WithdrawCode,
  | 'TOP_UP_REFUSED'
  | 'WITHDRAWAL_REFUSED'
  | 'BANK_UNAVAILABLE'
  | 'INSUFFICIENT_BALANCE'
  | 'TRANSFER_LIMIT_EXCEEDED'
  | 'ACCOUNT_NOT_FOUND'
  | 'EXTERNAL_SERVICE_FAILED'
>;

const MESSAGES: Record<TopUpCode | WithdrawCode, string> = {
  ACCOUNT_NOT_FOUND: 'The account was not found.',
  LINKED_ACCOUNT_NOT_FOUND: 'The linked account was not found.',
  ACCOUNT_NOT_LINKED: 'Confirm an auto-debit consent for the account first.',
  INVALID_AMOUNT: `The amount must be whole won from 1 to ${MAX_MOVEMENT_AMOUNT}.`,
  INVALID_EXTERNAL_TRANSACTION_ID: 'The external transaction id must be 1 to 64 printable ASCII characters.',
  EXTERNAL_TRANSACTION_ID_REUSED: 'The external transaction id was already used for another request.',
  TOP_UP_DAILY_LIMIT_EXCEEDED: "The top-up would exceed today's top-up limit.",
  TOP_UP_REFUSED: 'The bank or Konaplate refused the top-up; nothing was moved.',
  WITHDRAWAL_REFUSED: 'The bank or Konaplate refused the withdrawal; the amount was returned to the account.',
  BANK_UNAVAILABLE: 'The bank cannot be reached now; try again later with a new transaction id.',
  INSUFFICIENT_BALANCE: 'The balance is not sufficient.',
  TRANSFER_LIMIT_EXCEEDED: "The withdrawal would exceed the account's transfer limit.",
  EXTERNAL_SERVICE_UNAVAILABLE: 'An external service cannot be reached now; try again later.',
  EXTERNAL_SERVICE_FAILED: 'An external service failed to process the request.',
};

const topUpFailed = failWith<TopUpCode>();
const withdrawFailed = failWith<WithdrawCode>();
const failedWith = (kind: MoneyMovementKind, code: string) =>
  kind === 'TOP_UP'
    ? topUpFailed(code as TopUpCode, MESSAGES[code as TopUpCode])
    : withdrawFailed(code as WithdrawCode, MESSAGES[code as WithdrawCode]);

const EXTERNAL_ID = /^[\x21-\x7e]{1,64}$/;

/** The ledger idempotency keys of a movement's postings; reconciliation reads the ledger by them. */
export const MOVEMENT_LEDGER_KEYS = {
  /** Top-up: the credit from the settlement account. */
  credit: (id: string) => `funding-top-up:${id}`,
  /** Withdrawal: the debit to the settlement account. */
  debit: (id: string) => `funding-withdrawal:${id}`,
  /** Refused withdrawal: the credit back. */
  reversal: (id: string) => `funding-withdrawal-reversal:${id}`,
};

export interface MoneyMovementInput {
  linkedAccountId: bigint;
  accountNumber: string;
  /** KRW: currency and whole won, checked here. */
  amount: { currency: string; major: bigint; minor: bigint };
  externalTransactionId: string;
}

type Deps = Pick<FundingContext, 'db' | 'konaplate' | 'ledger' | 'log' | 'now' | 'topUpLimitPerDayMinor' | 'movementLeaseMs'>;

/** The Asia/Seoul calendar day (UTC+9, no daylight saving) of an instant, yyyy-MM-dd. */
export function seoulDay(at: Date): string {
  return new Date(at.getTime() + 9 * 3_600_000).toISOString().slice(0, 10);
}

function requestHash(kind: MoneyMovementKind, input: MoneyMovementInput): string {
  return createHash('sha256').update(`${kind}\n${input.linkedAccountId}\n${input.accountNumber}\n${input.amount.major}`).digest('hex');
}

export function topUp(deps: Deps, userId: string, input: MoneyMovementInput): Promise<MoneyMovementRow> {
  return startMovement(deps, 'TOP_UP', userId, input);
}

export function withdraw(deps: Deps, userId: string, input: MoneyMovementInput): Promise<MoneyMovementRow> {
  return startMovement(deps, 'WITHDRAWAL', userId, input);
}

/** The codes AutoTopUp (internal, for transfers) answers. */
export type AutoTopUpCode = Exclude<TopUpCode, 'LINKED_ACCOUNT_NOT_FOUND'> | 'AUTO_TOP_UP_NOT_REGISTERED';

const autoTopUpFailed = failWith<AutoTopUpCode>();
const NOT_REGISTERED = 'No linked account is registered for automatic top-up.';
/** Keeps `auto-top-up:` + key within the external transaction id's 64 characters. */
const AUTO_KEY = /^[\x21-\x7e]{1,52}$/;

/**
 * Whether the user has automatic top-up (a LINKED account registered for it) and how much the
 * daily top-up limit still allows today; for a transfer's pre-check.
 */
export async function autoTopUpAllowance(deps: Deps, userId: string): Promise<{ registered: boolean; remainingTodayMinor: bigint }> {
  if (!(await findAutoTopUpAccount(deps.db, userId))) return { registered: false, remainingTodayMinor: 0n };
  const limit = deps.topUpLimitPerDayMinor ?? BigInt(MAX_MOVEMENT_AMOUNT);
  const used = await sumTopUpsOfDay(deps.db, userId, seoulDay(deps.now()));
  return { registered: true, remainingTodayMinor: used >= limit ? 0n : limit - used };
}

/**
 * A top-up from the user's automatic top-up account, for a transfer that needs more than the
 * balance: a TopUp with the external id `auto-top-up:{key}` (same key and amount → the same
 * movement), within the daily limit.
 */
export async function autoTopUp(deps: Deps, userId: string, accountNumber: string, amount: MoneyMovementInput['amount'], key: string) {
  if (!AUTO_KEY.test(key)) throw autoTopUpFailed('INVALID_EXTERNAL_TRANSACTION_ID', MESSAGES.INVALID_EXTERNAL_TRANSACTION_ID);
  const linked = await findAutoTopUpAccount(deps.db, userId);
  if (!linked) throw autoTopUpFailed('AUTO_TOP_UP_NOT_REGISTERED', NOT_REGISTERED);
  try {
    return await startMovement(deps, 'TOP_UP', userId, {
      linkedAccountId: linked.id,
      accountNumber,
      amount,
      externalTransactionId: `auto-top-up:${key}`,
    });
  } catch (err) {
    // Unregistered between the two reads.
    if (isDomainError(err, 'LINKED_ACCOUNT_NOT_FOUND')) throw autoTopUpFailed('AUTO_TOP_UP_NOT_REGISTERED', NOT_REGISTERED);
    throw err;
  }
}

async function startMovement(deps: Deps, kind: MoneyMovementKind, userId: string, input: MoneyMovementInput): Promise<MoneyMovementRow> {
  const fail = (code: TopUpCode & WithdrawCode) => failedWith(kind, code);
  const ledger = ledgerOf(deps);
  if (!EXTERNAL_ID.test(input.externalTransactionId)) throw fail('INVALID_EXTERNAL_TRANSACTION_ID');
  const { amount } = input;
  if (amount.currency !== 'KRW' || amount.minor !== 0n || amount.major < 1n || amount.major > BigInt(MAX_MOVEMENT_AMOUNT)) {
    throw fail('INVALID_AMOUNT');
  }
  const hash = requestHash(kind, input);

  // A repeat answers the first request's movement, whatever happened since.
  const existing = await findMovementByExternalId(deps.db, userId, input.externalTransactionId);
  if (existing) return repeat(deps, existing, hash);

  const linked = await findLinkedAccount(deps.db, userId, input.linkedAccountId);
  if (!linked) throw fail('LINKED_ACCOUNT_NOT_FOUND');
  if (linked.state !== 'LINKED') throw fail('ACCOUNT_NOT_LINKED');
  const memberId = await knownKonaplateMemberId(deps, userId);
  // A LINKED account was holder-verified, which registered the member.
  if (memberId === undefined) throw fail('ACCOUNT_NOT_LINKED');
  const account = await ledger.getAccountForOwner(userId, input.accountNumber);
  if (!account || account.closed || account.currency !== 'KRW') throw fail('ACCOUNT_NOT_FOUND');
  // Konaplate moves money with the member's registered account, not with one we name: it must be
  // the linked account the user chose, or the money would come from (or go to) another account.
  let registered;
  try {
    registered = await deps.konaplate.inquireBankAccounts({ userId: memberId });
  } catch (err) {
    throw fromKonaplate<TopUpCode & WithdrawCode>(err, ['BANK_UNAVAILABLE', 'EXTERNAL_SERVICE_UNAVAILABLE']);
  }
  const isLinked = (a: RegisteredBankAccount | undefined) =>
    a !== undefined && a.bankCode === linked.bankCode && a.bankAccount === linked.accountNumber;
  if (!isLinked(registered.bankAccForNormalRcg) && !isLinked(registered.bankAccForAutoRcg)) throw fail('ACCOUNT_NOT_LINKED');

  const now = deps.now();
  const owner = randomUUID();
  const id = randomUUID();
  const inserted = await insertPendingMovement(
    deps.db,
    {
      id,
      userId,
      kind,
      externalTransactionId: input.externalTransactionId,
      requestHash: hash,
      linkedAccountId: input.linkedAccountId,
      accountNumber: input.accountNumber,
      amountMinor: amount.major,
      memberId,
      tranId: randomBytes(16).toString('hex'),
      seoulDay: seoulDay(now),
    },
    { owner, until: new Date(now.getTime() + deps.movementLeaseMs), now },
    kind === 'TOP_UP' ? deps.topUpLimitPerDayMinor : null,
  );
  if (!inserted.inserted) {
    if (inserted.reason === 'DAILY_LIMIT') throw topUpFailed('TOP_UP_DAILY_LIMIT_EXCEEDED', MESSAGES.TOP_UP_DAILY_LIMIT_EXCEEDED);
    // A concurrent request with the same external id wrote first.
    return repeat(deps, (await findMovementByExternalId(deps.db, userId, input.externalTransactionId))!, hash);
  }
  deps.log.info(
    {
      movement_id: id,
      kind,
      amount: amount.major.toString(),
      account_number: maskAccountNumber(input.accountNumber),
      linked_account_id: input.linkedAccountId,
    },
    'money movement recorded as pending',
  );
  await drive(deps, id, owner, bankNameOf(linked.bankName));
  return answer((await findMovement(deps.db, id))!);
}

const bankNameOf = (name: string) => name.slice(0, 40);

async function repeat(deps: Deps, row: MoneyMovementRow, hash: string): Promise<MoneyMovementRow> {
  if (row.requestHash !== hash) throw failedWith(row.kind, 'EXTERNAL_TRANSACTION_ID_REUSED');
  // Still pending and nobody driving it: the repeat moves it on (as the job would).
  if (row.state === 'PENDING') {
    const now = deps.now();
    const owner = randomUUID();
    if (await leaseMovement(deps.db, row.id, owner, now, new Date(now.getTime() + deps.movementLeaseMs))) {
      const linked = await findLinkedAccount(deps.db, row.userId, row.linkedAccountId);
      await drive(deps, row.id, owner, bankNameOf(linked?.bankName ?? ''));
    }
  }
  return answer((await findMovement(deps.db, row.id))!);
}

/** PENDING and SETTLED are answers; FAILED is the stored failure's error, the same every time. */
function answer(row: MoneyMovementRow): MoneyMovementRow {
  if (row.state === 'FAILED') throw failedWith(row.kind, row.failureCode ?? 'EXTERNAL_SERVICE_FAILED');
  return row;
}

function ledgerOf(deps: Deps) {
  if (!deps.ledger) throw new Error('the funding service was built without a ledger');
  return deps.ledger;
}

/**
 * Background job: drives pending movements that nobody touched for `retryAfterMs` (lost answers,
 * crashed callers, ledger outages), one lease at a time. Returns how many it drove.
 */
export async function resolvePendingMovements(deps: Deps, options: { retryAfterMs: number; maxRows: number }): Promise<number> {
  let driven = 0;
  for (; driven < options.maxRows; driven++) {
    const now = deps.now();
    const owner = randomUUID();
    const row = await leaseNextStaleMovement(
      deps.db,
      owner,
      now,
      new Date(now.getTime() + deps.movementLeaseMs),
      new Date(now.getTime() - options.retryAfterMs),
    );
    if (!row) break;
    const linked = await findLinkedAccount(deps.db, row.userId, row.linkedAccountId);
    await drive(deps, row.id, owner, bankNameOf(linked?.bankName ?? ''));
  }
  return driven;
}

/** Runs the next steps of a leased movement until it ends or waits on something outside. */
async function drive(deps: Deps, id: string, owner: string, bankName: string): Promise<void> {
  const log = deps.log.child({ movement_id: id });
  try {
    await steps(deps, id, owner, bankName, log);
  } catch (err) {
    // Ours or the database's failure: the row keeps its last recorded step for the job.
    log.error({ err }, 'money movement step failed; left pending');
  } finally {
    await releaseMovementLease(deps.db, id, owner).catch((err: unknown) => log.warn({ err }, 'releasing the movement lease failed'));
  }
}

type Log = FundingContext['log'];

async function steps(deps: Deps, id: string, owner: string, bankName: string, log: Log): Promise<void> {
  const ledger = ledgerOf(deps);
  const record = async (change: MovementChange) => {
    if (!(await recordStep(deps.db, id, owner, change, deps.now()))) throw new Error('lost the lease of the movement');
  };
  let row = (await findMovement(deps.db, id))!;
  const memo = `${bankName} ${row.kind === 'TOP_UP' ? '충전' : '출금'}`.trim();

  // Withdrawal: reserve the money first (debit to the settlement account).
  if (row.kind === 'WITHDRAWAL' && row.debitEntryId === null) {
    try {
      const posted = await ledger.debitToSettlement({
        idempotencyKey: MOVEMENT_LEDGER_KEYS.debit(row.id),
        ownerUserId: row.userId,
        accountNumber: row.accountNumber,
        amountMinor: row.amountMinor,
        memo,
      });
      await record({ debit_entry_id: posted.entryId });
    } catch (err) {
      if (err instanceof UpstreamUnavailableError) return log.warn('ledger unavailable for the withdrawal debit; left pending');
      if (err instanceof UpstreamRefusal) {
        const code = DEBIT_REFUSALS[err.code as LedgerDebitRefusal] ?? 'EXTERNAL_SERVICE_FAILED';
        await record({ state: 'FAILED', failure_code: code });
        return log.info({ code: err.code }, 'withdrawal refused by the ledger; nothing moved');
      }
      throw err;
    }
    row = (await findMovement(deps.db, id))!;
  }

  if (row.konaplateOutcome === null) {
    const outcome = await askKonaplate(deps, row, log);
    if (outcome === 'unknown') {
      await record({ attempts: row.attempts + 1 });
      return log.warn({ kind: row.kind }, 'Konaplate outcome unknown; left pending for the inquiry');
    }
    await record(
      outcome.moved
        ? { konaplate_outcome: 'SUCCESS', approval_no: outcome.approvalNo, attempts: row.attempts + 1 }
        : row.kind === 'TOP_UP'
          ? { konaplate_outcome: 'FAILED', state: 'FAILED', failure_code: outcome.failure, attempts: row.attempts + 1 }
          : { konaplate_outcome: 'FAILED', failure_code: outcome.failure, attempts: row.attempts + 1 },
    );
    row = (await findMovement(deps.db, id))!;
    if (row.state === 'FAILED') return log.info({ code: row.failureCode }, 'top-up refused; nothing moved');
  }

  if (row.kind === 'TOP_UP') {
    // Konaplate charged the bank account: credit the KRW account from the settlement account.
    try {
      const posted = await ledger.creditFromSettlement({
        idempotencyKey: MOVEMENT_LEDGER_KEYS.credit(row.id),
        ownerUserId: row.userId,
        event: 'TOP_UP',
        accountNumber: row.accountNumber,
        amountMinor: row.amountMinor,
        memo,
      });
      await record({ credit_entry_id: posted.entryId, state: 'SETTLED', settled_at: deps.now() });
      return log.info({ entry_id: posted.entryId.toString() }, 'top-up settled');
    } catch (err) {
      if (err instanceof UpstreamUnavailableError) return log.warn('ledger unavailable for the top-up credit; left pending');
      // The money arrived at Konaplate and the account refuses it (closed since): an operator's case.
      if (err instanceof UpstreamRefusal)
        return log.error({ code: err.code as LedgerCreditRefusal }, 'top-up credit refused by the ledger; left pending');
      throw err;
    }
  }

  if (row.konaplateOutcome === 'SUCCESS') {
    await record({ state: 'SETTLED', settled_at: deps.now() });
    return log.info('withdrawal settled');
  }
  // Konaplate refused the withdrawal: give the reserved money back.
  try {
    const posted = await ledger.creditFromSettlement({
      idempotencyKey: MOVEMENT_LEDGER_KEYS.reversal(row.id),
      ownerUserId: row.userId,
      event: 'WITHDRAWAL_RETURNED',
      accountNumber: row.accountNumber,
      amountMinor: row.amountMinor,
      memo: `${memo} 취소`,
    });
    await record({ credit_entry_id: posted.entryId, state: 'FAILED' });
    log.info({ code: row.failureCode }, 'withdrawal refused; debit reversed');
  } catch (err) {
    if (err instanceof UpstreamUnavailableError) return log.warn('ledger unavailable for the withdrawal reversal; left pending');
    if (err instanceof UpstreamRefusal)
      return log.error({ code: err.code as LedgerCreditRefusal }, 'withdrawal reversal refused by the ledger; left pending');
    throw err;
  }
}

const DEBIT_REFUSALS: Partial<Record<LedgerDebitRefusal, FailureCode>> = {
  INSUFFICIENT_BALANCE: 'INSUFFICIENT_BALANCE',
  TRANSFER_LIMIT_EXCEEDED: 'TRANSFER_LIMIT_EXCEEDED',
  INVALID_SOURCE_ACCOUNT: 'ACCOUNT_NOT_FOUND',
};

type KonaplateOutcome = { moved: true; approvalNo: string } | { moved: false; failure: FailureCode } | 'unknown';

/**
 * Konaplate's answer for the movement. The first attempt sends it; later attempts ask the
 * transaction inquiry first and send again (same tranId) only when Konaplate never received it.
 */
async function askKonaplate(deps: Deps, row: MoneyMovementRow, log: Log): Promise<KonaplateOutcome> {
  if (row.attempts > 0) {
    let status: TransactionStatus;
    try {
      status = await deps.konaplate.inquireTransaction({ userId: row.memberId, tranId: row.tranId });
    } catch (err) {
      log.warn({ err }, 'Konaplate transaction inquiry failed');
      return 'unknown';
    }
    if (status.status === 'SUCCESS') return { moved: true, approvalNo: status.approvalNo };
    if (status.status === 'FAILED') return { moved: false, failure: refusalFor(row.kind, status.resultCode) };
  }
  const request = { userId: row.memberId, tranId: row.tranId, amount: row.amountMinor };
  try {
    const moved = row.kind === 'TOP_UP' ? await deps.konaplate.charge(request) : await deps.konaplate.withdraw(request);
    return { moved: true, approvalNo: moved.approvalNo };
  } catch (err) {
    if (!(err instanceof KonaplateError)) throw err;
    switch (err.kind) {
      // No answer, or one that proves nothing: the inquiry will tell.
      case 'outcome_unknown':
      case 'network':
      case 'server_error':
      case 'protocol':
      case 'unknown_code':
        log.warn({ err }, 'Konaplate call without a usable answer');
        return 'unknown';
      case 'unauthorized':
        // Refused at the gateway: nothing was processed, and it is ours to fix.
        log.error({ err }, 'Konaplate refused our credentials');
        return { moved: false, failure: 'EXTERNAL_SERVICE_FAILED' };
      default:
        return { moved: false, failure: refusalFor(row.kind, err.code) };
    }
  }
}

/** A Konaplate result code that refused the movement, as our failure code. */
function refusalFor(kind: MoneyMovementKind, resultCode: string): FailureCode {
  // 002_002, 002_004, 002_006: the bank side was not available for this transaction.
  if (resultCode === '002_002' || resultCode === '002_004' || resultCode === '002_006') return 'BANK_UNAVAILABLE';
  return kind === 'TOP_UP' ? 'TOP_UP_REFUSED' : 'WITHDRAWAL_REFUSED';
}

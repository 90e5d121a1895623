/**
 * Reconciliation (issue 15 item 5): for one Asia/Seoul day, compares what Konaplate says moved
 * with the funding service's movements and with the ledger postings recorded on them, and
 * reports every disagreement as a metric (through `onReconciliationMismatch`) and one log line.
 *
 * Konaplate side: the ASSUMED money API has no listing of a day's transactions, so each movement
 * of the day is asked about with the per-transaction result inquiry (by its tranId). A charge
 * Konaplate made under a tranId we never recorded cannot be seen this way; that needs a listing
 * call (docs/external-apis.md, "Reconciliation"). Ledger side: the entry ids the movement
 * recorded when the ledger answered (credit for a top-up, debit and reversal for a withdrawal);
 * every posting is made under an idempotency key derived from the movement id, so the recorded
 * entry is the only one the movement can have.
 */
import { randomUUID } from 'node:crypto';
import type { TransactionStatus } from '@kfrm/konaplate';
import type { FundingContext } from './funding.context';
import type { MoneyMovementRow } from './money-movement.repository';
import { finishReconciliationRun, leaseReconciliationRun, listMovementsOfDay, releaseReconciliationRun } from './reconciliation.repository';
import { seoulDay } from './money-movement';

export const RECONCILIATION_MISMATCH_KINDS = [
  /** We recorded the money as moved; Konaplate has no transaction under its tranId. */
  'MISSING_AT_KONAPLATE',
  /** Moved on one side, refused (or never sent) on the other. */
  'STATUS_DIFFERS',
  /** Konaplate's amount is not ours. */
  'AMOUNT_DIFFERS',
  /** Konaplate recorded a charge for our withdrawal or the reverse. */
  'KIND_DIFFERS',
  /** The movement's state needs a ledger posting it has not recorded. */
  'MISSING_IN_LEDGER',
  /** A ledger posting is recorded that the movement's state rules out. */
  'UNEXPECTED_LEDGER_ENTRY',
  /** Still pending when the day is reconciled: neither settled nor failed. */
  'STILL_PENDING',
] as const;
export type ReconciliationMismatchKind = (typeof RECONCILIATION_MISMATCH_KINDS)[number];

export interface ReconciliationMismatch {
  kind: ReconciliationMismatchKind;
  movementId: string;
  tranId: string;
  movementKind: MoneyMovementRow['kind'];
  state: MoneyMovementRow['state'];
  amountMinor: bigint;
  /** What Konaplate answered (NOT_FOUND, SUCCESS, FAILED); undefined when not asked. */
  konaplateStatus?: TransactionStatus['status'];
  konaplateAmount?: bigint;
}

export interface ReconciliationReport {
  day: string;
  /** Movements of the day compared. */
  checked: number;
  mismatches: ReconciliationMismatch[];
}

type Deps = Pick<FundingContext, 'db' | 'konaplate' | 'log' | 'now' | 'onReconciliationMismatch'>;

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const PAGE = 200;

/** Whether `day` is a real calendar day written yyyy-MM-dd. */
export function isReconciliationDay(day: string): boolean {
  if (!DAY.test(day)) return false;
  const at = new Date(`${day}T00:00:00Z`);
  return !Number.isNaN(at.getTime()) && at.toISOString().slice(0, 10) === day;
}

/**
 * Reconciles the movements requested on `day` (Asia/Seoul). A Konaplate inquiry that cannot be
 * answered fails the whole run (nothing is counted): a half-checked day would read as clean.
 */
export async function reconcileDay(deps: Deps, day: string): Promise<ReconciliationReport> {
  if (!isReconciliationDay(day)) throw new Error(`the day must be yyyy-MM-dd, got ${JSON.stringify(day)}`);
  const found: ReconciliationMismatch[] = [];
  let checked = 0;
  let afterId = '';
  for (;;) {
    const rows = await listMovementsOfDay(deps.db, day, afterId, PAGE);
    for (const row of rows) {
      checked += 1;
      found.push(...(await compare(deps, row)));
    }
    if (rows.length < PAGE) break;
    afterId = rows[rows.length - 1]!.id;
  }
  // Counted and logged only once the whole day was compared.
  for (const m of found) {
    deps.onReconciliationMismatch?.(m.kind);
    deps.log.warn(
      {
        reconciliation_day: day,
        kind: m.kind,
        movement_id: m.movementId,
        tran_id: m.tranId,
        movement_kind: m.movementKind,
        state: m.state,
        amount: m.amountMinor.toString(),
        konaplate_status: m.konaplateStatus,
        konaplate_amount: m.konaplateAmount?.toString(),
      },
      'reconciliation mismatch',
    );
  }
  deps.log.info({ reconciliation_day: day, checked, mismatches: found.length }, 'reconciliation finished');
  return { day, checked, mismatches: found };
}

async function compare(deps: Deps, row: MoneyMovementRow): Promise<ReconciliationMismatch[]> {
  const base = {
    movementId: row.id,
    tranId: row.tranId,
    movementKind: row.kind,
    state: row.state,
    amountMinor: row.amountMinor,
  };
  // The resolver's work; a day later it is a case for an operator, whatever the other sides say.
  if (row.state === 'PENDING') return [{ kind: 'STILL_PENDING', ...base }];
  const out: ReconciliationMismatch[] = [];

  const status = await deps.konaplate.inquireTransaction({ userId: row.memberId, tranId: row.tranId });
  const withStatus = {
    ...base,
    konaplateStatus: status.status,
    ...(status.status === 'NOT_FOUND' ? {} : { konaplateAmount: status.amount }),
  };
  const movedHere = row.state === 'SETTLED';
  if (status.status === 'NOT_FOUND') {
    // A refusal or a movement never sent may leave no record there; a settled one must.
    if (movedHere) out.push({ kind: 'MISSING_AT_KONAPLATE', ...withStatus });
  } else {
    if ((status.status === 'SUCCESS') !== movedHere) out.push({ kind: 'STATUS_DIFFERS', ...withStatus });
    if (status.amount !== row.amountMinor) out.push({ kind: 'AMOUNT_DIFFERS', ...withStatus });
    if (status.kind !== (row.kind === 'TOP_UP' ? 'CHARGE' : 'WITHDRAW')) out.push({ kind: 'KIND_DIFFERS', ...withStatus });
  }

  const ledger = ledgerExpectation(row);
  if (ledger) out.push({ kind: ledger, ...withStatus });
  return out;
}

/** The ledger postings the movement's final state requires, against those it recorded. */
function ledgerExpectation(row: MoneyMovementRow): ReconciliationMismatchKind | undefined {
  const debit = row.debitEntryId !== null;
  const credit = row.creditEntryId !== null;
  if (row.kind === 'TOP_UP') {
    if (row.state === 'SETTLED') return credit ? undefined : 'MISSING_IN_LEDGER';
    return debit || credit ? 'UNEXPECTED_LEDGER_ENTRY' : undefined;
  }
  if (row.state === 'SETTLED') {
    if (!debit) return 'MISSING_IN_LEDGER';
    return credit ? 'UNEXPECTED_LEDGER_ENTRY' : undefined;
  }
  // A failed withdrawal: either the ledger refused the debit (nothing posted), or the debit was
  // reversed by a credit back.
  if (debit && !credit) return 'MISSING_IN_LEDGER';
  if (!debit && credit) return 'UNEXPECTED_LEDGER_ENTRY';
  return undefined;
}

/**
 * Periodic job: reconciles the previous Asia/Seoul day once, under a lease on the day so that
 * one instance does it; undefined when it is done already or another instance is at it. A
 * failed run releases the lease and is tried again by the next call.
 */
export async function reconcilePreviousDay(deps: Deps, leaseMs: number): Promise<ReconciliationReport | undefined> {
  const now = deps.now();
  const day = seoulDay(new Date(now.getTime() - 86_400_000));
  const owner = randomUUID();
  if (!(await leaseReconciliationRun(deps.db, day, owner, now, new Date(now.getTime() + leaseMs)))) return undefined;
  try {
    const report = await reconcileDay(deps, day);
    await finishReconciliationRun(deps.db, day, owner, { checked: report.checked, mismatches: report.mismatches.length }, deps.now());
    return report;
  } catch (err) {
    await releaseReconciliationRun(deps.db, day, owner).catch(() => undefined);
    throw err;
  }
}

/**
 * Reconciliation (issue 15 item 5): for one Asia/Seoul day, compares what Konaplate says moved
 * with the funding service's movements and with the ledger postings recorded on them, and
 * reports every disagreement as a metric (through `onReconciliationMismatch`) and one log line.
 *
 * Konaplate side, both ways: each movement of the day is asked about with the per-transaction
 * result inquiry (by its tranId), and every member's transaction history of the day (거래내역
 * 확인, ASSUMED like the rest of the money API) is read for transactions under a tranId we never
 * recorded — money Konaplate moved that neither this service nor the ledger knows of
 * (docs/external-apis.md, "Reconciliation"). Ledger side: every posting of a movement is
 * made under an idempotency key derived from its id (credit `funding-top-up:{id}`, debit
 * `funding-withdrawal:{id}`, reversal `funding-withdrawal-reversal:{id}`), so the ledger's own
 * entries under those keys (LedgerService.FindEntriesByKeys) are what the movement moved there.
 */
import { randomUUID } from 'node:crypto';
import { MAX_HISTORY_PAGE_SIZE, type TransactionHistoryEntry, type TransactionStatus } from '@kfrm/konaplate';
import { listIssuedKonaplateMembers } from './konaplate-member.repository';
import type { FundingContext } from './funding.context';
import type { LedgerEntryFound } from './ledger-port';
import type { MoneyMovementRow } from './money-movement.repository';
import {
  finishReconciliationRun,
  leaseReconciliationRun,
  listMovementsOfDay,
  recordedTranIds,
  releaseReconciliationRun,
} from './reconciliation.repository';
import { MOVEMENT_LEDGER_KEYS, seoulDay } from './money-movement';

export const RECONCILIATION_MISMATCH_KINDS = [
  /** We recorded the money as moved; Konaplate has no transaction under its tranId. */
  'MISSING_AT_KONAPLATE',
  /** Moved on one side, refused (or never sent) on the other. */
  'STATUS_DIFFERS',
  /** Konaplate's amount is not ours. */
  'AMOUNT_DIFFERS',
  /** Konaplate recorded a charge for our withdrawal or the reverse. */
  'KIND_DIFFERS',
  /** The movement's state needs a ledger entry the ledger does not have. */
  'MISSING_IN_LEDGER',
  /** The ledger has an entry under the movement's key that its state rules out. */
  'UNEXPECTED_LEDGER_ENTRY',
  /** The ledger's entry moved another amount on the customer account than the movement's. */
  'LEDGER_AMOUNT_DIFFERS',
  /** Still pending when the day is reconciled: neither settled nor failed. */
  'STILL_PENDING',
  /**
   * Konaplate's history lists a transaction under a tranId no movement of ours has: money moved
   * (or was refused) that the ledger knows nothing of. `movementId` and `state` are empty.
   */
  'UNKNOWN_TRANSACTION',
] as const;
export type ReconciliationMismatchKind = (typeof RECONCILIATION_MISMATCH_KINDS)[number];

export interface ReconciliationMismatch {
  kind: ReconciliationMismatchKind;
  /** Empty for UNKNOWN_TRANSACTION (no movement of ours). */
  movementId: string;
  tranId: string;
  movementKind: MoneyMovementRow['kind'];
  /** Undefined for UNKNOWN_TRANSACTION. */
  state?: MoneyMovementRow['state'];
  amountMinor: bigint;
  /** What Konaplate answered (NOT_FOUND, SUCCESS, FAILED); undefined when not asked. */
  konaplateStatus?: TransactionStatus['status'];
  konaplateAmount?: bigint;
  /** The ledger entry concerned, when there is one. */
  ledgerEntryId?: bigint;
}

export interface ReconciliationReport {
  day: string;
  /** Movements of the day compared. */
  checked: number;
  /** Transactions Konaplate's history lists for the day, over all our members. */
  listed: number;
  mismatches: ReconciliationMismatch[];
}

type Deps = Pick<FundingContext, 'db' | 'konaplate' | 'ledger' | 'log' | 'now' | 'onReconciliationMismatch'>;

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
/** Movements per page: their ledger keys (up to 3 each) fit one FindEntriesByKeys call. */
const PAGE = 60;

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
  const ledger = deps.ledger;
  if (!ledger) throw new Error('the funding service was built without a ledger');
  const found: ReconciliationMismatch[] = [];
  let checked = 0;
  let afterId = '';
  for (;;) {
    const rows = await listMovementsOfDay(deps.db, day, afterId, PAGE);
    const entries = rows.length === 0 ? new Map() : await ledger.findEntries(rows.flatMap((row) => Object.values(ledgerKeys(row))));
    for (const row of rows) {
      checked += 1;
      found.push(...(await compare(deps, row, entries)));
    }
    if (rows.length < PAGE) break;
    afterId = rows[rows.length - 1]!.id;
  }
  const history = await unknownTransactions(deps, day);
  found.push(...history.mismatches);
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
        ledger_entry_id: m.ledgerEntryId?.toString(),
      },
      'reconciliation mismatch',
    );
  }
  deps.log.info({ reconciliation_day: day, checked, listed: history.listed, mismatches: found.length }, 'reconciliation finished');
  return { day, checked, listed: history.listed, mismatches: found };
}

/**
 * Reads every member's Konaplate history of the day (a KST day is an Asia/Seoul day) and reports
 * each transaction whose tranId no movement of ours has. Matched against all our movements, not
 * only the day's: one sent just before midnight may be dated the next day there.
 */
async function unknownTransactions(deps: Deps, day: string): Promise<{ listed: number; mismatches: ReconciliationMismatch[] }> {
  const date = day.replace(/-/g, '');
  const mismatches: ReconciliationMismatch[] = [];
  let listed = 0;
  let afterUserId = '';
  for (;;) {
    const members = await listIssuedKonaplateMembers(deps.db, afterUserId, PAGE);
    for (const member of members) {
      const entries: TransactionHistoryEntry[] = [];
      for (let pageNo = 1; ; pageNo++) {
        const page = await deps.konaplate.listTransactions({
          userId: member.memberId!,
          fromDate: date,
          toDate: date,
          pageNo,
          pageSize: MAX_HISTORY_PAGE_SIZE,
        });
        entries.push(...page.transactions);
        if (page.transactions.length < MAX_HISTORY_PAGE_SIZE || entries.length >= page.totalCount) break;
      }
      listed += entries.length;
      const ours = await recordedTranIds(
        deps.db,
        entries.map((e) => e.tranId),
      );
      for (const entry of entries) {
        if (ours.has(entry.tranId)) continue;
        mismatches.push({
          kind: 'UNKNOWN_TRANSACTION',
          movementId: '',
          tranId: entry.tranId,
          movementKind: entry.kind === 'CHARGE' ? 'TOP_UP' : 'WITHDRAWAL',
          amountMinor: entry.amount,
          konaplateStatus: entry.status,
          konaplateAmount: entry.amount,
        });
      }
    }
    if (members.length < PAGE) break;
    afterUserId = members[members.length - 1]!.userId;
  }
  return { listed, mismatches };
}

async function compare(deps: Deps, row: MoneyMovementRow, entries: Map<string, LedgerEntryFound>): Promise<ReconciliationMismatch[]> {
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

  out.push(...compareWithLedger(row, entries).map((m) => ({ ...withStatus, ...m })));
  return out;
}

/** The ledger keys a movement's postings can have (the ones money-movement.ts posts under). */
function ledgerKeys(row: MoneyMovementRow): Record<string, string> {
  return row.kind === 'TOP_UP'
    ? { credit: MOVEMENT_LEDGER_KEYS.credit(row.id) }
    : { debit: MOVEMENT_LEDGER_KEYS.debit(row.id), reversal: MOVEMENT_LEDGER_KEYS.reversal(row.id) };
}

/** The ledger's entries under the movement's keys, against those its final state requires. */
function compareWithLedger(
  row: MoneyMovementRow,
  entries: Map<string, LedgerEntryFound>,
): { kind: ReconciliationMismatchKind; ledgerEntryId?: bigint }[] {
  const keys = ledgerKeys(row);
  const out: { kind: ReconciliationMismatchKind; ledgerEntryId?: bigint }[] = [];
  // Credit (top-up, reversal): +amount on the customer account; debit (withdrawal): -amount.
  const check = (key: string, wanted: boolean, signedAmount: bigint) => {
    const entry = entries.get(key);
    if (!entry) {
      if (wanted) out.push({ kind: 'MISSING_IN_LEDGER' });
      return;
    }
    if (!wanted) return out.push({ kind: 'UNEXPECTED_LEDGER_ENTRY', ledgerEntryId: entry.entryId });
    const moved = entry.postings.filter((p) => p.accountNumber === row.accountNumber).reduce((sum, p) => sum + p.amountMinor, 0n);
    if (moved !== signedAmount) out.push({ kind: 'LEDGER_AMOUNT_DIFFERS', ledgerEntryId: entry.entryId });
  };
  if (row.kind === 'TOP_UP') {
    check(keys.credit!, row.state === 'SETTLED', row.amountMinor);
    return out;
  }
  if (row.state === 'SETTLED') {
    check(keys.debit!, true, -row.amountMinor);
    check(keys.reversal!, false, row.amountMinor);
    return out;
  }
  // A failed withdrawal: the ledger refused the debit (no entry at all), or the debit was
  // reversed after Konaplate refused (both entries).
  const debited = entries.has(keys.debit!);
  if (debited) check(keys.debit!, true, -row.amountMinor);
  check(keys.reversal!, debited, row.amountMinor);
  return out;
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

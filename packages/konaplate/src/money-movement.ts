/**
 * Konaplate money movement: charging the card balance from the member's registered bank account
 * (계좌 충전), paying a balance back out to that account (withdrawal), and asking what became of
 * either (충전 및 충전취소 결과 확인).
 *
 * ASSUMED, all of it: the seeds list "계좌 충전" and "충전 및 충전취소 결과 확인" in their menu
 * but give no page, and a withdrawal to the bank account is not in the menu at all (the nearest,
 * "계좌 충전취소", cancels a charge). Everything here follows the documented conventions of seeds
 * 001/002 — a POST with the common X-KM-* headers, `userId` the member id as a JSON number, the
 * `response` envelope, `NNN_NNN` codes with 000_002/000_003 for a refused field, responses
 * encrypted like the inquiry's — and lives in this one module (plus the sandbox endpoints) so it
 * can be replaced when the real pages arrive (docs/external-apis.md, "Konaplate top-up and
 * withdrawal (assumed)").
 *
 * Idempotency: `tranId` is ours, generated once per top-up or withdrawal and stored before the
 * first call. The same tranId with the same fields answers the first result (it moves money
 * once); the same tranId with other fields is refused (000_002). So a resend after a lost answer
 * is safe, and the result inquiry by tranId tells whether the first one arrived.
 *
 * The transaction history (거래내역 확인, ASSUMED like the rest) lists a member's charges and
 * withdrawals of a range of Korean calendar days, a page at a time: reconciliation reads it to
 * find what Konaplate moved under a tranId we never recorded.
 */
import type { ValidationIssue } from './errors';
import { isJsonObject, JsonNumber, type JsonValue } from './lossless-json';

export const MONEY_MOVEMENT_PATHS = {
  charge: '/api/v1/charge',
  withdraw: '/api/v1/bankaccounts/withdraw',
  inquireTransaction: '/api/v1/charge/result',
  listTransactions: '/api/v1/transactions/history',
} as const;

/** Our transaction id: letters and digits, 20 to 40 characters (ASSUMED). */
export const TRAN_ID_PATTERN = /^[A-Za-z0-9]{20,40}$/;
/** Largest single amount in KRW (ASSUMED: Konaplate's per-charge ceiling is not public). */
export const MAX_MOVEMENT_AMOUNT = 2_000_000_000;

export type MoneyMovementKind = 'CHARGE' | 'WITHDRAW';

export interface MoneyMovementRequest {
  /** The Konaplate member id (up to 19 digits, kept as text). */
  userId: string;
  /** Ours, stable per top-up or withdrawal: the idempotency key at Konaplate. */
  tranId: string;
  /** Whole KRW, 1 … MAX_MOVEMENT_AMOUNT. */
  amount: bigint;
}

export interface MoneyMoved {
  tranId: string;
  /** Konaplate's own transaction number (kept for reconciliation). */
  approvalNo: string;
  correlationId: string;
}

export interface TransactionInquiryRequest {
  userId: string;
  tranId: string;
}

export type TransactionStatus =
  /** The money moved. */
  | { status: 'SUCCESS'; kind: MoneyMovementKind; amount: bigint; approvalNo: string }
  /** Refused for good with this result code; no money moved. */
  | { status: 'FAILED'; kind: MoneyMovementKind; amount: bigint; resultCode: string }
  /** Konaplate never received this tranId: nothing moved, and resending it is safe. */
  | { status: 'NOT_FOUND' };

export function validateMoneyMovement(request: MoneyMovementRequest): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (typeof request.userId !== 'string' || !/^[1-9]\d{0,18}$/.test(request.userId)) {
    issues.push({ field: 'userId', rule: 'must be an integer of 1 to 19 digits' });
  }
  if (typeof request.tranId !== 'string' || !TRAN_ID_PATTERN.test(request.tranId)) {
    issues.push({ field: 'tranId', rule: 'must be 20 to 40 letters or digits' });
  }
  if (typeof request.amount !== 'bigint' || request.amount < 1n || request.amount > BigInt(MAX_MOVEMENT_AMOUNT)) {
    issues.push({ field: 'amount', rule: `must be a whole number of won from 1 to ${MAX_MOVEMENT_AMOUNT}` });
  }
  return issues;
}

export function validateTransactionInquiry(request: TransactionInquiryRequest): ValidationIssue[] {
  return validateMoneyMovement({ ...request, amount: 1n });
}

export function moneyMovementPayload(request: MoneyMovementRequest): Record<string, JsonValue> {
  return { userId: new JsonNumber(request.userId), tranId: request.tranId, amount: new JsonNumber(request.amount.toString()) };
}

/** Konaplate's transaction number from a success answer; undefined when it has none. */
export function readApprovalNo(data: { [key: string]: JsonValue }): string | undefined {
  const approvalNo = data.approvalNo;
  return typeof approvalNo === 'string' && /^[A-Za-z0-9]{1,40}$/.test(approvalNo) ? approvalNo : undefined;
}

/** The inquiry's answer; undefined when it does not have the documented shape. */
export function readTransactionStatus(data: { [key: string]: JsonValue }): TransactionStatus | undefined {
  if (!isJsonObject(data)) return undefined;
  const { status, tranType, amount } = data;
  if (status === 'NOT_FOUND') return { status };
  if (tranType !== 'CHARGE' && tranType !== 'WITHDRAW') return undefined;
  if (!(amount instanceof JsonNumber) || !/^[1-9]\d{0,18}$/.test(amount.raw)) return undefined;
  if (status === 'SUCCESS') {
    const approvalNo = readApprovalNo(data);
    return approvalNo === undefined ? undefined : { status, kind: tranType, amount: BigInt(amount.raw), approvalNo };
  }
  if (status === 'FAILED') {
    const resultCode = data.resultCode;
    if (typeof resultCode !== 'string' || !/^\d{3}_\d{3}$/.test(resultCode)) return undefined;
    return { status, kind: tranType, amount: BigInt(amount.raw), resultCode };
  }
  return undefined;
}

/** Largest page of the transaction history (ASSUMED). */
export const MAX_HISTORY_PAGE_SIZE = 100;

export interface TransactionHistoryRequest {
  userId: string;
  /** yyyyMMdd, a Korean (KST) calendar day, inclusive. */
  fromDate: string;
  /** yyyyMMdd, inclusive, at most 31 days after fromDate. */
  toDate: string;
  /** From 1. */
  pageNo: number;
  /** 1 … MAX_HISTORY_PAGE_SIZE. */
  pageSize: number;
}

/** One charge or withdrawal as the history lists it. */
export type TransactionHistoryEntry = { tranId: string; kind: MoneyMovementKind; amount: bigint; tranDateTime: string } & (
  | { status: 'SUCCESS'; approvalNo: string }
  | { status: 'FAILED'; resultCode: string }
);

export interface TransactionHistoryPage {
  /** Entries in the whole range (all pages). */
  totalCount: number;
  transactions: TransactionHistoryEntry[];
}

const DAY = /^\d{8}$/;

export function validateTransactionHistory(request: TransactionHistoryRequest): ValidationIssue[] {
  const issues = validateMoneyMovement({ userId: request.userId, tranId: 'x'.repeat(20), amount: 1n });
  const day = (value: unknown) =>
    typeof value === 'string' &&
    DAY.test(value) &&
    !Number.isNaN(Date.parse(`${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6)}T00:00:00Z`));
  if (!day(request.fromDate)) issues.push({ field: 'fromDate', rule: 'must be a calendar date written yyyyMMdd' });
  if (!day(request.toDate)) issues.push({ field: 'toDate', rule: 'must be a calendar date written yyyyMMdd' });
  else if (day(request.fromDate)) {
    const span =
      (Date.parse(`${request.toDate.slice(0, 4)}-${request.toDate.slice(4, 6)}-${request.toDate.slice(6)}T00:00:00Z`) -
        Date.parse(`${request.fromDate.slice(0, 4)}-${request.fromDate.slice(4, 6)}-${request.fromDate.slice(6)}T00:00:00Z`)) /
      86_400_000;
    if (span < 0 || span > 31) issues.push({ field: 'toDate', rule: 'must be 0 to 31 days after fromDate' });
  }
  if (!Number.isInteger(request.pageNo) || request.pageNo < 1 || request.pageNo > 1_000_000) {
    issues.push({ field: 'pageNo', rule: 'must be an integer from 1' });
  }
  if (!Number.isInteger(request.pageSize) || request.pageSize < 1 || request.pageSize > MAX_HISTORY_PAGE_SIZE) {
    issues.push({ field: 'pageSize', rule: `must be an integer from 1 to ${MAX_HISTORY_PAGE_SIZE}` });
  }
  return issues;
}

export function transactionHistoryPayload(request: TransactionHistoryRequest): Record<string, JsonValue> {
  return {
    userId: new JsonNumber(request.userId),
    fromDate: request.fromDate,
    toDate: request.toDate,
    pageNo: new JsonNumber(String(request.pageNo)),
    pageSize: new JsonNumber(String(request.pageSize)),
  };
}

/** A history page; undefined when it does not have the documented shape. */
export function readTransactionHistory(data: { [key: string]: JsonValue }): TransactionHistoryPage | undefined {
  if (!isJsonObject(data)) return undefined;
  const { totalCount, transactions } = data;
  if (!(totalCount instanceof JsonNumber) || !/^\d{1,9}$/.test(totalCount.raw) || !Array.isArray(transactions)) return undefined;
  const entries: TransactionHistoryEntry[] = [];
  for (const item of transactions) {
    if (!isJsonObject(item)) return undefined;
    const { tranId, tranDateTime } = item;
    if (typeof tranId !== 'string' || !TRAN_ID_PATTERN.test(tranId)) return undefined;
    if (typeof tranDateTime !== 'string' || !/^\d{14}$/.test(tranDateTime)) return undefined;
    const status = readTransactionStatus(item);
    if (status === undefined || status.status === 'NOT_FOUND') return undefined;
    entries.push({ ...status, tranId, tranDateTime });
  }
  return { totalCount: Number(totalCount.raw), transactions: entries };
}

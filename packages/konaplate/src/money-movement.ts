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
 */
import type { ValidationIssue } from './errors';
import { isJsonObject, JsonNumber, type JsonValue } from './lossless-json';

export const MONEY_MOVEMENT_PATHS = {
  charge: '/api/v1/charge',
  withdraw: '/api/v1/bankaccounts/withdraw',
  inquireTransaction: '/api/v1/charge/result',
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

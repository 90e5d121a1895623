/**
 * The ledger as the funding service needs it (a port) and its adapter over the account service's
 * internal LedgerService. Money enters and leaves through the ledger's settlement account of the
 * currency (0000-SETTLEMENT-KRW): a top-up is credited from it (Deposit), a withdrawal is debited
 * to it (PostTransfer to the external settlement) before Konaplate pays out, and a refused
 * withdrawal is credited back from it. Every posting is exactly once per idempotency key.
 * Refusals come back as UpstreamRefusal with the ledger's code; a ledger that cannot answer is
 * UpstreamUnavailableError, and the caller posts again under the same key later.
 */
import { UpstreamRefusal, UpstreamUnavailableError, type CodeOf } from '@kfrm/errors';
import {
  DepositApiError,
  DepositApiError_ErrorCode,
  GetAccountForOwnerApiError,
  GetAccountForOwnerApiError_ErrorCode,
  type LedgerServiceClient,
  OutboxEventKind,
  type OutboxEventRequest,
  OutboxEventType,
  PostTransferApiError,
  PostTransferApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { unaryCall } from '@kfrm/runtime';
import { apiErrorType } from '@kfrm/server-kit';

export type LedgerDebitRefusal = CodeOf<typeof PostTransferApiError_ErrorCode>;
export type LedgerCreditRefusal = CodeOf<typeof DepositApiError_ErrorCode>;

export interface OwnLedgerAccount {
  accountNumber: string;
  currency: 'KRW' | 'OTHER';
  balanceMinor: bigint;
  closed: boolean;
}

/** An entry the ledger committed under an idempotency key, with its signed postings (credit > 0). */
export interface LedgerEntryFound {
  entryId: bigint;
  postings: { accountNumber: string; amountMinor: bigint }[];
}

export interface FundingLedger {
  /** The committed entries under these keys (at most 200), by key; keys without one are absent. */
  findEntries(idempotencyKeys: string[]): Promise<Map<string, LedgerEntryFound>>;
  /** The owner's account; undefined when unknown or someone else's. */
  getAccountForOwner(ownerUserId: string, accountNumber: string): Promise<OwnLedgerAccount | undefined>;
  /**
   * Credits the account from the settlement account (KRW), with a TOP_UP or WITHDRAWAL_RETURNED
   * event for the owner. Refusals: UpstreamRefusal<LedgerCreditRefusal>.
   */
  creditFromSettlement(input: {
    idempotencyKey: string;
    ownerUserId: string;
    accountNumber: string;
    amountMinor: bigint;
    memo: string;
    event: 'TOP_UP' | 'WITHDRAWAL_RETURNED';
  }): Promise<{ entryId: bigint }>;
  /**
   * Debits the owner's account to the settlement account (KRW) as a withdrawal entry, with a
   * WITHDRAWAL event for the owner. Refusals: UpstreamRefusal<LedgerDebitRefusal>.
   */
  debitToSettlement(input: {
    idempotencyKey: string;
    ownerUserId: string;
    accountNumber: string;
    amountMinor: bigint;
    memo: string;
  }): Promise<{ entryId: bigint }>;
}

const errors = {
  getAccountForOwner: apiErrorType(GetAccountForOwnerApiError, GetAccountForOwnerApiError_ErrorCode),
  deposit: apiErrorType(DepositApiError, DepositApiError_ErrorCode),
  postTransfer: apiErrorType(PostTransferApiError, PostTransferApiError_ErrorCode),
};

const unavailable = (cause: unknown) => new UpstreamUnavailableError('the ledger could not answer', { cause });
const krw = (majorAmount: bigint) => ({ currencyCode: CurrencyCode.KRW, majorAmount, minorAmount: 0n });
/** Facts for the notification service (it words them); the ledger adds amount, account and memo. */
const event = (userId: string, kind: OutboxEventKind): OutboxEventRequest => ({
  userId,
  type: OutboxEventType.OUTBOX_EVENT_TYPE_TRANSFER_SUCCEED,
  kind,
  title: '',
  content: '',
  counterpartyName: '',
});

export function grpcFundingLedger(client: () => LedgerServiceClient, timeoutMs = 5_000): FundingLedger {
  return {
    async findEntries(idempotencyKeys) {
      try {
        const { entries } = await unaryCall(client(), 'findEntriesByKeys', { idempotencyKeys }, { timeoutMs });
        return new Map(
          entries.map((e) => [
            e.idempotencyKey,
            { entryId: e.entryId, postings: e.postings.map((p) => ({ accountNumber: p.accountNumber, amountMinor: p.amountMinor })) },
          ]),
        );
      } catch (err) {
        throw unavailable(err);
      }
    },
    async getAccountForOwner(ownerUserId, accountNumber) {
      try {
        const { account } = await unaryCall(
          client(),
          'getAccountForOwner',
          { ownerUserId, accountNumber },
          { errors: errors.getAccountForOwner, timeoutMs },
        );
        if (!account) return undefined;
        return {
          accountNumber: account.accountNumber,
          currency: account.balance?.currencyCode === CurrencyCode.KRW ? 'KRW' : 'OTHER',
          balanceMinor: account.balance?.majorAmount ?? 0n,
          closed: account.closedAt !== '',
        };
      } catch (err) {
        if (err instanceof UpstreamRefusal && err.code === 'ACCOUNT_NOT_FOUND') return undefined;
        throw unavailable(err);
      }
    },
    async creditFromSettlement(input) {
      try {
        const res = await unaryCall(
          client(),
          'deposit',
          {
            idempotencyKey: input.idempotencyKey,
            accountNumber: input.accountNumber,
            amount: krw(input.amountMinor),
            memo: input.memo,
            events: [
              event(
                input.ownerUserId,
                input.event === 'TOP_UP' ? OutboxEventKind.OUTBOX_EVENT_KIND_TOP_UP : OutboxEventKind.OUTBOX_EVENT_KIND_WITHDRAWAL_RETURNED,
              ),
            ],
          },
          { errors: errors.deposit, timeoutMs },
        );
        return { entryId: res.entryId };
      } catch (err) {
        if (err instanceof UpstreamRefusal) throw err;
        throw unavailable(err);
      }
    },
    async debitToSettlement(input) {
      try {
        const res = await unaryCall(
          client(),
          'postTransfer',
          {
            idempotencyKey: input.idempotencyKey,
            fromAccountNumber: input.accountNumber,
            toAccountNumber: '',
            toExternalSettlement: true,
            withdrawal: true,
            amount: krw(input.amountMinor),
            debitMemo: input.memo,
            creditMemo: '',
            sourceOwnerUserId: input.ownerUserId,
            events: [event(input.ownerUserId, OutboxEventKind.OUTBOX_EVENT_KIND_WITHDRAWAL)],
          },
          { errors: errors.postTransfer, timeoutMs },
        );
        return { entryId: res.entryId };
      } catch (err) {
        if (err instanceof UpstreamRefusal) throw err;
        throw unavailable(err);
      }
    },
  };
}

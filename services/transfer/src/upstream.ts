/**
 * The other services as the transfer service needs them (ports), and their gRPC adapters over
 * the internal clients. Business refusals come back as values or DomainErrors with the other
 * service's code; a service that cannot answer is UpstreamUnavailableError (UNAVAILABLE), so
 * nothing is decided on a guess.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { DependencyUnavailableError, DomainError } from '@kfrm/errors';
import {
  GetAccountForOwnerApiError,
  GetAccountForOwnerApiError_ErrorCode,
  GetTransferTargetApiError,
  GetTransferTargetApiError_ErrorCode,
  LedgerServiceClient,
  OutboxEventKind,
  OutboxEventType,
  PostTransferApiError,
  PostTransferApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { AuthenticatedTransactionType, AuthenticationProcess, AuthenticationProcess_ProcessStatus, CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { GetProcessApiError, GetProcessApiError_ErrorCode, UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import { ConsumeProcessApiError, ConsumeProcessApiError_ErrorCode, ProcessStepServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { apiErrorCode } from '@kfrm/server-kit';

/** Another service could not answer (UNAVAILABLE). */
export class UpstreamUnavailableError extends DependencyUnavailableError {
  override name = 'UpstreamUnavailableError';
}

export interface OwnAccount {
  accountNumber: string;
  name: string;
  currency: 'KRW' | 'OTHER';
  balanceMinor: bigint;
  /** null: no limit. */
  limitPerTransactionMinor: bigint | null;
  limitPerDayMinor: bigint | null;
}

export interface PostedTransfer {
  entryId: bigint;
}

/**
 * A notification posted with the transfer: who is told and what happened to them. Facts only:
 * the ledger adds the amount, account and memo from the entry, the notification service words it.
 */
export interface TransferEvent {
  userId: string;
  kind: 'TRANSFER_OUT' | 'TRANSFER_IN';
  /** The other side as the user may see it (masked); may be empty. */
  counterpartyName: string;
}

export interface LedgerPort {
  /** The owner's account; undefined when unknown or someone else's. */
  getAccountForOwner(ownerUserId: string, accountNumber: string): Promise<OwnAccount | undefined>;
  /** The holder of one of our customer accounts; undefined when there is none. */
  getTransferTarget(accountNumber: string): Promise<{ ownerUserId: string; currency: 'KRW' | 'OTHER' } | undefined>;
  /**
   * Posts exactly once per idempotency key. Refusals throw DomainError with the ledger's code
   * (INSUFFICIENT_BALANCE, TRANSFER_LIMIT_EXCEEDED, INVALID_SOURCE_ACCOUNT, INVALID_TARGET_ACCOUNT,
   * INVALID_AMOUNT, IDEMPOTENCY_KEY_REUSED).
   */
  postTransfer(input: {
    idempotencyKey: string;
    fromAccountNumber: string;
    /** Undefined: to the external settlement account (a transfer to another institution). */
    toAccountNumber: string | undefined;
    amountMinor: bigint;
    debitMemo: string;
    creditMemo: string;
    sourceOwnerUserId: string;
    events: TransferEvent[];
  }): Promise<PostedTransfer>;
}

export type ProcessStatus = 'READY' | 'IN_PROGRESS' | 'DONE';

export interface UserPort {
  /** TRANSFER process for the context; its id and what the app needs to show. */
  createTransferProcess(userId: string, context: string): Promise<AuthenticationProcess>;
  /** undefined: no such process of this user (unknown, another user's, expired). */
  getProcess(input: { processId: string; userId: string; signedData: string; originData: string }): Promise<{ status: ProcessStatus; verified: boolean } | undefined>;
  /** Marks the DONE process used; 'refused' when not DONE, already used, or another context; 'not-found' when gone. */
  consumeTransferProcess(input: { processId: string; userId: string; context: string }): Promise<'consumed' | 'refused' | 'not-found'>;
  /** The user's name; undefined when there is no such user. */
  findUserName(userId: string): Promise<string | undefined>;
}

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
type UnaryMethod<Req, Res> = (req: Req, md: Metadata, opts: { deadline: number }, cb: Callback<Res>) => unknown;

function unary<Req, Res>(client: object, method: UnaryMethod<Req, Res>, request: Req, timeoutMs: number): Promise<Res> {
  return new Promise((resolve, reject) => {
    method.call(client, request, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'number';
}

const unavailable = (what: string, cause: unknown) => new UpstreamUnavailableError(`${what} could not answer`, { cause });

const currencyOf = (code: CurrencyCode | undefined): 'KRW' | 'OTHER' => (code === CurrencyCode.KRW ? 'KRW' : 'OTHER');
const limitOf = (value: { majorAmount: bigint } | undefined): bigint | null => (!value || value.majorAmount === 0n ? null : value.majorAmount);

const POST_CODES: Partial<Record<PostTransferApiError_ErrorCode, string>> = {
  [PostTransferApiError_ErrorCode.INSUFFICIENT_BALANCE]: 'INSUFFICIENT_BALANCE',
  [PostTransferApiError_ErrorCode.INVALID_SOURCE_ACCOUNT]: 'INVALID_SOURCE_ACCOUNT',
  [PostTransferApiError_ErrorCode.INVALID_TARGET_ACCOUNT]: 'INVALID_TARGET_ACCOUNT',
  [PostTransferApiError_ErrorCode.IDEMPOTENCY_KEY_REUSED]: 'IDEMPOTENCY_KEY_REUSED',
  [PostTransferApiError_ErrorCode.TRANSFER_LIMIT_EXCEEDED]: 'TRANSFER_LIMIT_EXCEEDED',
  [PostTransferApiError_ErrorCode.INVALID_AMOUNT]: 'INVALID_AMOUNT',
};

/** The ledger through its internal API. `timeoutMs` bounds each call (a lost answer is retried by the caller). */
export function grpcLedger(client: () => LedgerServiceClient, timeoutMs = 5_000): LedgerPort {
  return {
    async getAccountForOwner(ownerUserId, accountNumber) {
      const c = client();
      try {
        const { account } = await unary(c, c.getAccountForOwner, { ownerUserId, accountNumber }, timeoutMs);
        if (!account) return undefined;
        return {
          accountNumber: account.accountNumber,
          name: account.accountName,
          currency: currencyOf(account.balance?.currencyCode),
          balanceMinor: account.balance?.majorAmount ?? 0n,
          limitPerTransactionMinor: limitOf(account.limitPerTransaction),
          limitPerDayMinor: limitOf(account.limitPerDay),
        };
      } catch (err) {
        if (apiErrorCode(err, GetAccountForOwnerApiError) === GetAccountForOwnerApiError_ErrorCode.ACCOUNT_NOT_FOUND) return undefined;
        throw unavailable('the ledger', err);
      }
    },
    async getTransferTarget(accountNumber) {
      const c = client();
      try {
        const res = await unary(c, c.getTransferTarget, { accountNumber }, timeoutMs);
        return { ownerUserId: res.ownerUserId, currency: currencyOf(res.currency) };
      } catch (err) {
        if (apiErrorCode(err, GetTransferTargetApiError) === GetTransferTargetApiError_ErrorCode.ACCOUNT_NOT_FOUND) return undefined;
        throw unavailable('the ledger', err);
      }
    },
    async postTransfer(input) {
      const c = client();
      try {
        const res = await unary(
          c,
          c.postTransfer,
          {
            idempotencyKey: input.idempotencyKey,
            fromAccountNumber: input.fromAccountNumber,
            toAccountNumber: input.toAccountNumber ?? '',
            toExternalSettlement: input.toAccountNumber === undefined,
            amount: { currencyCode: CurrencyCode.KRW, majorAmount: input.amountMinor, minorAmount: 0n },
            debitMemo: input.debitMemo,
            creditMemo: input.creditMemo,
            sourceOwnerUserId: input.sourceOwnerUserId,
            events: input.events.map((e) => ({
              userId: e.userId,
              type: OutboxEventType.OUTBOX_EVENT_TYPE_TRANSFER_SUCCEED,
              kind: e.kind === 'TRANSFER_OUT' ? OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_OUT : OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_IN,
              counterpartyName: e.counterpartyName,
              title: '',
              content: '',
            })),
          },
          timeoutMs,
        );
        return { entryId: res.entryId };
      } catch (err) {
        const code = apiErrorCode(err, PostTransferApiError);
        const name = code === undefined ? undefined : POST_CODES[code as PostTransferApiError_ErrorCode];
        if (name) throw new DomainError(name, 'the ledger refused the transfer', { cause: err });
        // Deadline, reset connection, ABORTED after the ledger's own retries: the outcome is not
        // known, so the transfer stays EXECUTING and the next Execute posts again under the same key.
        throw unavailable('the ledger', err);
      }
    },
  };
}

const STATUS: Record<number, ProcessStatus> = {
  [AuthenticationProcess_ProcessStatus.READY]: 'READY',
  [AuthenticationProcess_ProcessStatus.IN_PROGRESS]: 'IN_PROGRESS',
  [AuthenticationProcess_ProcessStatus.DONE]: 'DONE',
};

/** The user service: UserService (processes, user names) and ProcessStepService (consumption). */
export function grpcUsers(users: () => UserServiceClient, steps: () => ProcessStepServiceClient, timeoutMs = 5_000): UserPort {
  return {
    async createTransferProcess(userId, context) {
      const c = users();
      try {
        const res = await unary(c, c.createProcess, { userId: BigInt(userId), transactionType: AuthenticatedTransactionType.TRANSFER, transactionContext: context }, timeoutMs);
        if (!res.process) throw new Error('CreateProcess answered without a process');
        return res.process;
      } catch (err) {
        // A refusal (no policy for this context) is a configuration bug, not an outage.
        if (isServiceError(err) && err.code !== status.UNAVAILABLE && err.code !== status.DEADLINE_EXCEEDED) throw new Error('CreateProcess refused the transfer context', { cause: err });
        throw unavailable('the user service', err);
      }
    },
    async getProcess(input) {
      const c = users();
      try {
        const res = await unary(
          c,
          c.getProcess,
          { processId: input.processId, userId: BigInt(input.userId), signedData: input.signedData, originData: input.originData },
          timeoutMs,
        );
        const processStatus = res.process ? STATUS[res.process.status] : undefined;
        if (!processStatus) throw new Error('GetProcess answered without a known process status');
        return { status: processStatus, verified: res.isVerified };
      } catch (err) {
        if (apiErrorCode(err, GetProcessApiError) === GetProcessApiError_ErrorCode.AUTHENTICATION_PROCESS_NOT_FOUND) return undefined;
        throw unavailable('the user service', err);
      }
    },
    async consumeTransferProcess(input) {
      const c = steps();
      try {
        await unary(
          c,
          c.consumeProcess,
          { processId: input.processId, userId: BigInt(input.userId), transactionType: AuthenticatedTransactionType.TRANSFER, transactionContext: input.context },
          timeoutMs,
        );
        return 'consumed';
      } catch (err) {
        const code = apiErrorCode(err, ConsumeProcessApiError);
        if (code === ConsumeProcessApiError_ErrorCode.AUTHENTICATION_FAILED) return 'refused';
        if (code === ConsumeProcessApiError_ErrorCode.AUTHENTICATION_PROCESS_NOT_FOUND) return 'not-found';
        throw unavailable('the user service', err);
      }
    },
    async findUserName(userId) {
      const c = users();
      try {
        const res = await unary(c, c.findByUserId, { userId }, timeoutMs);
        return res.user?.userName;
      } catch (err) {
        if (isServiceError(err) && err.code === status.NOT_FOUND) return undefined;
        throw unavailable('the user service', err);
      }
    },
  };
}

/**
 * The other services as the transfer service needs them (ports), and their gRPC adapters over
 * the internal clients. Business refusals come back as values or UpstreamRefusals with the other
 * service's code; a service that cannot answer is UpstreamUnavailableError (UNAVAILABLE), so
 * nothing is decided on a guess.
 */
import { status } from '@grpc/grpc-js';
import { UpstreamRefusal, UpstreamUnavailableError, type CodeOf } from '@kfrm/errors';
import {
  GetAccountForOwnerApiError,
  GetAccountForOwnerApiError_ErrorCode,
  GetTransferTargetApiError,
  GetTransferTargetApiError_ErrorCode,
  type LedgerServiceClient,
  OutboxEventKind,
  OutboxEventType,
  PostTransferApiError,
  PostTransferApiError_ErrorCode,
  SetTransferLimitsApiError,
  SetTransferLimitsApiError_ErrorCode,
  type LedgerAccount,
} from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import {
  AuthenticatedTransactionType,
  type AuthenticationProcess,
  AuthenticationProcess_ProcessStatus,
  CurrencyCode,
} from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { MoneyMovementState } from '@kfrm/proto/gen/kfrm/api/funding/funding';
import {
  AutoTopUpApiError,
  AutoTopUpApiError_ErrorCode,
  type FundingInternalServiceClient,
} from '@kfrm/proto/gen/kfrm/api/funding/funding_internal';
import { GetProcessApiError, GetProcessApiError_ErrorCode, type UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import {
  ConsumeProcessApiError,
  ConsumeProcessApiError_ErrorCode,
  type ProcessStepServiceClient,
} from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { grpcStatusOf, unaryCall } from '@kfrm/runtime';
import { apiErrorType } from '@kfrm/server-kit';

export { UpstreamUnavailableError };

/** The ledger's refusals of a posting (PostTransferApiError), which the transfer use cases translate. */
export type LedgerRefusalCode = CodeOf<typeof PostTransferApiError_ErrorCode>;

export interface OwnAccount {
  accountNumber: string;
  name: string;
  currency: 'KRW' | 'OTHER';
  balanceMinor: bigint;
  /** null: no limit. */
  limitPerTransactionMinor: bigint | null;
  limitPerDayMinor: bigint | null;
  /** Closed (CloseAccount): its statement stays, it neither sends nor receives. */
  closed: boolean;
  /**
   * What the ledger's daily limit has counted against the account today (its business day):
   * transfers and withdrawals posted, not those pre-checked and not yet posted.
   */
  debitedTodayMinor: bigint;
}

/** One of our customer accounts as a transfer target: its holder, nothing of its money. */
export interface TargetAccount {
  ownerUserId: string;
  currency: 'KRW' | 'OTHER';
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
  getTransferTarget(accountNumber: string): Promise<TargetAccount | undefined>;
  /**
   * The owner's source account and, when a target number is given, the target's holder, in one
   * call (one read at the ledger); each undefined as the two lookups above would answer.
   */
  getTransferParties(
    ownerUserId: string,
    sourceAccountNumber: string,
    targetAccountNumber: string | undefined,
  ): Promise<{ source: OwnAccount | undefined; target: TargetAccount | undefined }>;
  /**
   * Posts exactly once per idempotency key. Refusals throw `UpstreamRefusal<LedgerRefusalCode>`
   * (INSUFFICIENT_BALANCE, TRANSFER_LIMIT_EXCEEDED, INVALID_SOURCE_ACCOUNT, INVALID_TARGET_ACCOUNT,
   * INVALID_AMOUNT, IDEMPOTENCY_KEY_REUSED): the ledger's answer, for the use case to translate.
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
  /** Sets both limits of the owner's account; undefined when it is not the owner's (or gone). */
  setTransferLimits(input: {
    ownerUserId: string;
    accountNumber: string;
    perTransactionMinor: bigint;
    perDayMinor: bigint;
  }): Promise<OwnAccount | undefined>;
}

/** The funding service's automatic top-up (internal FundingInternalService). */
export interface FundingPort {
  /** What automatic top-up may still add today; undefined when the user has none. Unavailable: throws. */
  autoTopUpAllowance(userId: string): Promise<bigint | undefined>;
  /** Tops up the account from the automatic top-up account. Refusals and outages throw. */
  autoTopUp(input: { userId: string; accountNumber: string; amountMinor: bigint; key: string }): Promise<'SETTLED' | 'PENDING'>;
}

/** The funding service through its internal API. */
export function grpcFunding(client: () => FundingInternalServiceClient, timeoutMs = 20_000): FundingPort {
  return {
    async autoTopUpAllowance(userId) {
      try {
        const res = await unaryCall(client(), 'getAutoTopUpAllowance', { userId }, { timeoutMs: 5_000 });
        return res.registered ? (res.remainingToday?.majorAmount ?? 0n) : undefined;
      } catch (err) {
        throw unavailable('the funding service', err);
      }
    },
    async autoTopUp(input) {
      const res = await unaryCall(
        client(),
        'autoTopUp',
        {
          userId: input.userId,
          accountNumber: input.accountNumber,
          amount: { currencyCode: CurrencyCode.KRW, majorAmount: input.amountMinor, minorAmount: 0n },
          idempotencyKey: input.key,
        },
        // A top-up waits on Konaplate (10 s per attempt by default).
        { errors: errors.autoTopUp, timeoutMs },
      );
      return res.topUp?.state === MoneyMovementState.SETTLED ? 'SETTLED' : 'PENDING';
    },
  };
}

export type ProcessStatus = 'READY' | 'IN_PROGRESS' | 'DONE';
export type HolderStanding = 'ACTIVE' | 'BLOCKED' | 'OTHER';

/** An account holder as a recipient: their name (unmasked) and standing. */
export interface Holder {
  name: string;
  standing: HolderStanding;
}

/**
 * A TRANSFER process's creation. `recipient` answers the recipient asked for (null: no such
 * user); undefined when none was asked, or from a user service that predates it (ADR 0019),
 * which creates the process whatever the recipient's standing. Without a process: the recipient
 * is not ACTIVE, and nothing was created.
 */
export type CreatedTransferProcess =
  | { process: AuthenticationProcess; userName: string | undefined; recipient?: Holder | null }
  | { process: undefined; userName: undefined; recipient: Holder | null };

export interface UserPort {
  /**
   * TRANSFER process for the context; its id and what the app needs to show, and the user's name
   * as findUserName answers it, read with the process's creation (undefined from a user service
   * that predates that: ADR 0018). With recipientUserId, only while that user is ACTIVE, whose
   * name and standing come with it as findHolder answers them (ADR 0019).
   */
  createTransferProcess(userId: string, context: string, recipientUserId?: string): Promise<CreatedTransferProcess>;
  /** undefined: no such process of this user (unknown, another user's, expired). */
  getProcess(input: {
    processId: string;
    userId: string;
    signedData: string;
    originData: string;
    /** The transfer's process context: a verified DONE process is also marked used (one call instead of two). */
    consumeContext?: string;
    /** With consumeContext: a user whose standing is answered from the same statement (ADR 0018). */
    recipientUserId?: string;
  }): Promise<
    | {
        status: ProcessStatus;
        verified: boolean;
        consumed?: boolean;
        /**
         * recipientUserId's standing as findHolder answers it, null when there is no such user;
         * undefined when not answered (not asked, not verified, or an older user service).
         */
        recipientStanding?: HolderStanding | null;
      }
    | undefined
  >;
  /** Marks the DONE process used; 'refused' when not DONE, already used, or another context; 'not-found' when gone. */
  consumeTransferProcess(input: { processId: string; userId: string; context: string }): Promise<'consumed' | 'refused' | 'not-found'>;
  /** The user's name; undefined when there is no such user. */
  findUserName(userId: string): Promise<string | undefined>;
  /**
   * An account holder's name and standing: ACTIVE (ACTIVATED), BLOCKED, or OTHER (registering,
   * withdrawn). undefined when there is no such user.
   */
  findHolder(userId: string): Promise<Holder | undefined>;
  /** CHANGE_TRANSFER_LIMIT process (step-up for raising a limit) for the context. */
  createLimitChangeProcess(userId: string, context: string): Promise<AuthenticationProcess>;
  /** As consumeTransferProcess, for a CHANGE_TRANSFER_LIMIT process. */
  consumeLimitChangeProcess(input: { processId: string; userId: string; context: string }): Promise<'consumed' | 'refused' | 'not-found'>;
}

const unavailable = (what: string, cause: unknown) => new UpstreamUnavailableError(`${what} could not answer`, { cause });

const currencyOf = (code: CurrencyCode | undefined): 'KRW' | 'OTHER' => (code === CurrencyCode.KRW ? 'KRW' : 'OTHER');
const limitOf = (value: { majorAmount: bigint } | undefined): bigint | null =>
  !value || value.majorAmount === 0n ? null : value.majorAmount;

const ownAccountOf = (account: LedgerAccount): OwnAccount => ({
  accountNumber: account.accountNumber,
  name: account.accountName,
  currency: currencyOf(account.balance?.currencyCode),
  balanceMinor: account.balance?.majorAmount ?? 0n,
  limitPerTransactionMinor: limitOf(account.limitPerTransaction),
  limitPerDayMinor: limitOf(account.limitPerDay),
  closed: account.closedAt !== '',
  // Absent from a ledger that predates the counter: zero, and the posting still enforces the limit.
  debitedTodayMinor: account.debitedToday?.majorAmount ?? 0n,
});

const errors = {
  getAccountForOwner: apiErrorType(GetAccountForOwnerApiError, GetAccountForOwnerApiError_ErrorCode),
  getTransferTarget: apiErrorType(GetTransferTargetApiError, GetTransferTargetApiError_ErrorCode),
  setTransferLimits: apiErrorType(SetTransferLimitsApiError, SetTransferLimitsApiError_ErrorCode),
  postTransfer: apiErrorType(PostTransferApiError, PostTransferApiError_ErrorCode),
  getProcess: apiErrorType(GetProcessApiError, GetProcessApiError_ErrorCode),
  consumeProcess: apiErrorType(ConsumeProcessApiError, ConsumeProcessApiError_ErrorCode),
  autoTopUp: apiErrorType(AutoTopUpApiError, AutoTopUpApiError_ErrorCode),
};

const isRefusal = (err: unknown, code: string): boolean => err instanceof UpstreamRefusal && err.code === code;

/** The ledger through its internal API. `timeoutMs` bounds each call (a lost answer is retried by the caller). */
export function grpcLedger(client: () => LedgerServiceClient, timeoutMs = 5_000): LedgerPort {
  return {
    async getAccountForOwner(ownerUserId, accountNumber) {
      try {
        const { account } = await unaryCall(
          client(),
          'getAccountForOwner',
          { ownerUserId, accountNumber },
          { errors: errors.getAccountForOwner, timeoutMs },
        );
        return account ? ownAccountOf(account) : undefined;
      } catch (err) {
        if (isRefusal(err, 'ACCOUNT_NOT_FOUND')) return undefined;
        throw unavailable('the ledger', err);
      }
    },
    async getTransferTarget(accountNumber) {
      try {
        const res = await unaryCall(client(), 'getTransferTarget', { accountNumber }, { errors: errors.getTransferTarget, timeoutMs });
        return { ownerUserId: res.ownerUserId, currency: currencyOf(res.currency) };
      } catch (err) {
        if (isRefusal(err, 'ACCOUNT_NOT_FOUND')) return undefined;
        throw unavailable('the ledger', err);
      }
    },
    async getTransferParties(ownerUserId, sourceAccountNumber, targetAccountNumber) {
      let res;
      try {
        res = await unaryCall(
          client(),
          'getTransferParties',
          { ownerUserId, sourceAccountNumber, targetAccountNumber: targetAccountNumber ?? '' },
          { timeoutMs },
        );
      } catch (err) {
        throw unavailable('the ledger', err);
      }
      return {
        source: res.source ? ownAccountOf(res.source) : undefined,
        target: res.target ? { ownerUserId: res.target.ownerUserId, currency: currencyOf(res.target.currency) } : undefined,
      };
    },
    async postTransfer(input) {
      try {
        const res = await unaryCall(
          client(),
          'postTransfer',
          {
            idempotencyKey: input.idempotencyKey,
            fromAccountNumber: input.fromAccountNumber,
            toAccountNumber: input.toAccountNumber ?? '',
            toExternalSettlement: input.toAccountNumber === undefined,
            withdrawal: false,
            amount: { currencyCode: CurrencyCode.KRW, majorAmount: input.amountMinor, minorAmount: 0n },
            debitMemo: input.debitMemo,
            creditMemo: input.creditMemo,
            sourceOwnerUserId: input.sourceOwnerUserId,
            events: input.events.map((e) => ({
              userId: e.userId,
              type: OutboxEventType.OUTBOX_EVENT_TYPE_TRANSFER_SUCCEED,
              kind:
                e.kind === 'TRANSFER_OUT' ? OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_OUT : OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_IN,
              counterpartyName: e.counterpartyName,
              title: '',
              content: '',
            })),
          },
          { errors: errors.postTransfer, timeoutMs },
        );
        return { entryId: res.entryId };
      } catch (err) {
        // The ledger's refusal, typed: the use case decides what it means for the transfer.
        if (err instanceof UpstreamRefusal) throw err;
        // Deadline, reset connection, ABORTED after the ledger's own retries: the outcome is not
        // known, so the transfer stays EXECUTING and the next Execute posts again under the same key.
        throw unavailable('the ledger', err);
      }
    },
    async setTransferLimits(input) {
      const krw = (majorAmount: bigint) => ({ currencyCode: CurrencyCode.KRW, majorAmount, minorAmount: 0n });
      try {
        const { account } = await unaryCall(
          client(),
          'setTransferLimits',
          {
            ownerUserId: input.ownerUserId,
            accountNumber: input.accountNumber,
            limitPerTransaction: krw(input.perTransactionMinor),
            limitPerDay: krw(input.perDayMinor),
          },
          { errors: errors.setTransferLimits, timeoutMs },
        );
        return account ? ownAccountOf(account) : undefined;
      } catch (err) {
        if (isRefusal(err, 'ACCOUNT_NOT_FOUND')) return undefined;
        // INVALID_AMOUNT: the use case checked the limits first, so this is a bug, not a refusal to relay.
        if (err instanceof UpstreamRefusal) throw new Error('SetTransferLimits refused checked limits', { cause: err });
        throw unavailable('the ledger', err);
      }
    },
  };
}

/** A member's standing as a recipient: FindByUserId's status, as findHolder and getProcess both answer it. */
const standingOf = (status: UserStatus): HolderStanding =>
  status === UserStatus.ACTIVATED ? 'ACTIVE' : status === UserStatus.BLOCKED ? 'BLOCKED' : 'OTHER';

const STATUS: Record<number, ProcessStatus> = {
  [AuthenticationProcess_ProcessStatus.READY]: 'READY',
  [AuthenticationProcess_ProcessStatus.IN_PROGRESS]: 'IN_PROGRESS',
  [AuthenticationProcess_ProcessStatus.DONE]: 'DONE',
};

/** The user service: UserService (processes, user names) and ProcessStepService (consumption). */
export function grpcUsers(users: () => UserServiceClient, steps: () => ProcessStepServiceClient, timeoutMs = 5_000): UserPort {
  async function createProcess(
    userId: string,
    transactionType: AuthenticatedTransactionType,
    context: string,
    recipientUserId?: string,
  ): Promise<CreatedTransferProcess> {
    let res;
    try {
      res = await unaryCall(
        users(),
        'createProcess',
        {
          userId: BigInt(userId),
          transactionType,
          transactionContext: context,
          ...(recipientUserId === undefined ? {} : { recipientUserId: BigInt(recipientUserId) }),
        },
        { timeoutMs },
      );
    } catch (err) {
      if (err instanceof UpstreamUnavailableError) throw unavailable('the user service', err);
      // A refusal (no policy for this context) is a configuration bug, not an outage.
      throw new Error(`CreateProcess refused the ${AuthenticatedTransactionType[transactionType]} context`, { cause: err });
    }
    // recipient_status unset: not asked, or a user service that predates it (the caller asks findHolder).
    const recipient =
      res.recipientStatus === undefined
        ? undefined
        : res.recipientStatus === UserStatus.UNKNOWN
          ? null
          : { name: res.recipientName ?? '', standing: standingOf(res.recipientStatus) };
    if (res.process) return { process: res.process, userName: res.userName, recipient };
    // Only a recipient who is not ACTIVE leaves a creation without a process.
    if (recipient !== undefined && recipient?.standing !== 'ACTIVE') return { process: undefined, userName: undefined, recipient };
    throw unavailable('the user service', new Error('CreateProcess answered without a process'));
  }
  async function consumeProcess(
    transactionType: AuthenticatedTransactionType,
    input: { processId: string; userId: string; context: string },
  ): Promise<'consumed' | 'refused' | 'not-found'> {
    try {
      await unaryCall(
        steps(),
        'consumeProcess',
        { processId: input.processId, userId: BigInt(input.userId), transactionType, transactionContext: input.context },
        { errors: errors.consumeProcess, timeoutMs },
      );
      return 'consumed';
    } catch (err) {
      if (isRefusal(err, 'AUTHENTICATION_FAILED')) return 'refused';
      if (isRefusal(err, 'AUTHENTICATION_PROCESS_NOT_FOUND')) return 'not-found';
      throw unavailable('the user service', err);
    }
  }
  async function findUser(userId: string) {
    try {
      const res = await unaryCall(users(), 'findByUserId', { userId }, { timeoutMs });
      return res.user;
    } catch (err) {
      if (grpcStatusOf(err) === status.NOT_FOUND) return undefined;
      throw unavailable('the user service', err);
    }
  }
  return {
    createTransferProcess: (userId, context, recipientUserId) =>
      createProcess(userId, AuthenticatedTransactionType.TRANSFER, context, recipientUserId),
    // Without a recipient the creation always answers a process (or throws).
    createLimitChangeProcess: async (userId, context) =>
      (await createProcess(userId, AuthenticatedTransactionType.CHANGE_TRANSFER_LIMIT, context)).process!,
    consumeTransferProcess: (input) => consumeProcess(AuthenticatedTransactionType.TRANSFER, input),
    consumeLimitChangeProcess: (input) => consumeProcess(AuthenticatedTransactionType.CHANGE_TRANSFER_LIMIT, input),
    async getProcess(input) {
      try {
        const res = await unaryCall(
          users(),
          'getProcess',
          {
            processId: input.processId,
            userId: BigInt(input.userId),
            signedData: input.signedData,
            originData: input.originData,
            ...(input.consumeContext === undefined
              ? {}
              : {
                  consumeTransactionType: AuthenticatedTransactionType.TRANSFER,
                  consumeTransactionContext: input.consumeContext,
                  ...(input.recipientUserId === undefined ? {} : { recipientUserId: BigInt(input.recipientUserId) }),
                }),
          },
          { errors: errors.getProcess, timeoutMs },
        );
        const processStatus = res.process ? STATUS[res.process.status] : undefined;
        if (!processStatus) throw new Error('GetProcess answered without a known process status');
        // consumed unset: a user service that predates consume_*; the caller consumes as before.
        // recipient_status unset: not read (or a user service that predates it); the caller asks findHolder.
        const recipientStanding =
          res.recipientStatus === undefined
            ? undefined
            : res.recipientStatus === UserStatus.UNKNOWN
              ? null
              : standingOf(res.recipientStatus);
        return { status: processStatus, verified: res.isVerified, consumed: res.consumed, recipientStanding };
      } catch (err) {
        if (isRefusal(err, 'AUTHENTICATION_PROCESS_NOT_FOUND')) return undefined;
        throw unavailable('the user service', err);
      }
    },
    async findUserName(userId) {
      return (await findUser(userId))?.userName;
    },
    async findHolder(userId) {
      const user = await findUser(userId);
      if (!user) return undefined;
      return { name: user.userName, standing: standingOf(user.userStatus) };
    },
  };
}

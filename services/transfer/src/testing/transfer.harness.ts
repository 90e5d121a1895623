// Test support: the real account module (ledger) and a small stand-in for the user service's
// internal API (sessions, TRANSFER processes, signature check, single-use consumption), served
// by defineService on the internal listener of one startServices, with the transfer module.
//
// The stand-in's "signature" is an HMAC of the origin bytes under a per-user key: the real
// PKCS#7 check is the user service's (tested there); what matters here is that is_verified is
// true exactly for the bytes the user signed.
import { createHmac } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import type { TestDatabase } from '@kfrm/db/test-database';
import { DomainError } from '@kfrm/errors';
import { createCapturingDestination } from '@kfrm/logging';
import {
  CreateAccountRequest,
  LedgerServiceClient,
  OutboxEventKind,
  type CreateAccountResponse,
  type DepositResponse,
  type GetAccountForOwnerResponse,
  type LedgerAccount,
  type ListOutboxEventsResponse,
} from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import {
  Authentication_AuthenticationStatus,
  AuthenticatedTransactionType,
  AuthenticationProcess_ProcessStatus,
  AuthenticationType,
  CurrencyCode,
} from '@kfrm/proto/gen/kfrm/api/common/common';
import {
  CreateProcessApiError,
  CreateProcessApiError_ErrorCode,
  GetProcessApiError,
  GetProcessApiError_ErrorCode,
  User,
  UserServiceService,
  UserSession,
} from '@kfrm/proto/gen/kfrm/api/user/user';
import {
  ConsumeProcessApiError,
  ConsumeProcessApiError_ErrorCode,
  ProcessStepServiceService,
} from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import type { RunningServices, ServiceModule } from '@kfrm/runtime';
import { startTestServices } from '@kfrm/runtime/testing/services.harness';
import { clientAsCallers } from '@kfrm/runtime/testing/service-identity.fixtures';
import { apiErrorType, defineService } from '@kfrm/server-kit';
// The real account module; imported by path (a test-only need, not a package dependency).
import { accountModule } from '../../../account/src/account.module';

export const USERS: Record<string, string> = {
  '1000000001': '홍길동',
  '1000000002': '김철수',
  '1000000003': '남궁민수',
};

interface FakeProcess {
  id: string;
  userId: string;
  context: string;
  type: AuthenticatedTransactionType;
  status: 'READY' | 'DONE';
  consumed: boolean;
}

/** What the stand-in user service serves, when a test needs an older one. */
export interface FakeUserServiceOptions {
  /** false: a user service that predates GetProcess's consume_* (ignores them). */
  consumesOnGetProcess?: boolean;
  /**
   * false: one that predates CreateProcessResponse.user_name, GetProcess's recipient_user_id
   * (ADR 0018) and CreateProcess's (ADR 0019): answers none, so the transfer service looks the
   * users up with FindByUserId.
   */
  answersUserFacts?: boolean;
}

/** The user service as the transfer service sees it; `processes` lets tests complete and inspect. */
export function fakeUserService(options: FakeUserServiceOptions = {}) {
  const consumes = options.consumesOnGetProcess ?? true;
  const answersUserFacts = options.answersUserFacts ?? true;
  const processes = new Map<string, FakeProcess>();
  const sessions = new Map<string, { userId: string; deviceId: bigint }>();
  /** Member status by user id; ACTIVATED when not set. */
  const statuses = new Map<string, UserStatus>();
  /** A user's status as FindByUserId answers it; UNKNOWN for no such user (what the recipient fields carry). */
  const statusOf = (userId: string) => (USERS[userId] ? (statuses.get(userId) ?? UserStatus.ACTIVATED) : UserStatus.UNKNOWN);
  const calls = { createProcess: 0, getProcess: 0, consumeProcess: 0, findByUserId: 0 };
  let next = 0;
  const notFound = () => new DomainError('AUTHENTICATION_PROCESS_NOT_FOUND', 'authentication process not found');
  const own = (id: string, userId: bigint) => {
    const p = processes.get(id);
    if (!p || p.userId !== userId.toString()) throw notFound();
    return p;
  };
  const wire = (p: FakeProcess) => ({
    processId: p.id,
    status: p.status === 'DONE' ? AuthenticationProcess_ProcessStatus.DONE : AuthenticationProcess_ProcessStatus.READY,
    authentications: [
      {
        type: AuthenticationType.PIN,
        status: p.status === 'DONE' ? Authentication_AuthenticationStatus.DONE : Authentication_AuthenticationStatus.READY,
        fallback: AuthenticationType.NONE,
      },
    ],
  });

  const module: ServiceModule = {
    name: 'fake-user',
    create: () => ({
      internal: [
        defineService(
          UserServiceService,
          {
            async findBySessionToken(request) {
              const session = sessions.get(request.sessionToken);
              if (!session) throw new DomainError('LOGIN_SESSION_EXPIRED', 'session expired');
              return { userSession: UserSession.fromPartial({ userId: BigInt(session.userId), deviceId: session.deviceId }) };
            },
            async findByUserId(request) {
              calls.findByUserId++;
              const name = USERS[request.userId];
              if (!name) throw new DomainError('USER_NOT_FOUND', 'no such user');
              return {
                user: User.fromPartial({
                  userId: BigInt(request.userId),
                  userName: name,
                  userStatus: statusOf(request.userId),
                }),
              };
            },
            async createProcess(request) {
              calls.createProcess++;
              const type = request.transactionType;
              if (type !== AuthenticatedTransactionType.TRANSFER && type !== AuthenticatedTransactionType.CHANGE_TRANSFER_LIMIT)
                throw new DomainError('AUTHENTICATION_POLICY_NOT_FOUND', 'no policy');
              // Like the real policies: a transfer's context must carry amount.major_amount.
              const context = JSON.parse(request.transactionContext) as { amount?: { major_amount?: string } };
              if (type === AuthenticatedTransactionType.TRANSFER && !/^\d+$/.test(context.amount?.major_amount ?? ''))
                throw new DomainError('AUTHENTICATION_POLICY_NOT_FOUND', 'no policy');
              // As the real one (ADR 0019): a recipient asked for is answered as FindByUserId would
              // (UNKNOWN: no such user), and nothing is created unless they are ACTIVATED.
              const recipient = request.recipientUserId ? request.recipientUserId.toString() : undefined;
              const recipientFacts =
                answersUserFacts && recipient !== undefined
                  ? { recipientStatus: statusOf(recipient), recipientName: USERS[recipient] ?? '' }
                  : {};
              if (recipientFacts.recipientStatus !== undefined && recipientFacts.recipientStatus !== UserStatus.ACTIVATED)
                return { process: undefined, ...recipientFacts };
              const p: FakeProcess = {
                id: `proc-${++next}-x`,
                userId: request.userId.toString(),
                context: request.transactionContext,
                type,
                status: 'READY',
                consumed: false,
              };
              processes.set(p.id, p);
              // As the real one: the name FindByUserId answers (every process's user exists there).
              return { process: wire(p), ...(answersUserFacts ? { userName: USERS[p.userId] ?? '', ...recipientFacts } : {}) };
            },
            async getProcess(request) {
              calls.getProcess++;
              const p = own(request.processId, request.userId);
              const verified = request.signedData !== '' && request.signedData === fakeSign(p.userId, request.originData);
              // As the real user service: consume_* asked, a verified DONE process of that type and
              // context is marked used; consumed answers whether it is used for exactly that.
              if (!consumes || request.consumeTransactionType === undefined || request.consumeTransactionContext === undefined)
                return { process: wire(p), isVerified: verified };
              const forThis =
                p.status === 'DONE' && p.type === request.consumeTransactionType && p.context === request.consumeTransactionContext;
              if (verified && forThis) p.consumed = true;
              // The recipient's status, as FindByUserId answers it (UNKNOWN: no such user), only
              // when asked and verified, as the real one.
              const recipient = request.recipientUserId?.toString();
              const recipientStatus =
                answersUserFacts && verified && recipient !== undefined && recipient !== '0' ? statusOf(recipient) : undefined;
              return { process: wire(p), isVerified: verified, consumed: verified && forThis && p.consumed, recipientStatus };
            },
          },
          {
            findBySessionToken: { access: 'internal', callers: ['*'] },
            findByCustomerId: { access: 'internal', callers: ['*'] },
            findByUserId: { access: 'internal', callers: ['*'] },
            createProcess: {
              access: 'internal',
              callers: ['*'],
              errors: apiErrorType(CreateProcessApiError, CreateProcessApiError_ErrorCode),
            },
            getProcess: { access: 'internal', callers: ['*'], errors: apiErrorType(GetProcessApiError, GetProcessApiError_ErrorCode) },
          },
        ),
        defineService(
          ProcessStepServiceService,
          {
            async consumeProcess(request) {
              calls.consumeProcess++;
              const p = own(request.processId, request.userId);
              if (p.status !== 'DONE' || p.consumed || request.transactionType !== p.type || request.transactionContext !== p.context) {
                throw new DomainError('AUTHENTICATION_FAILED', 'authentication failed');
              }
              p.consumed = true;
              return { process: wire(p) };
            },
          },
          {
            getRunningProcess: { access: 'internal', callers: ['*'] },
            completeAuthentication: { access: 'internal', callers: ['*'] },
            consumeProcess: {
              access: 'internal',
              callers: ['*'],
              errors: apiErrorType(ConsumeProcessApiError, ConsumeProcessApiError_ErrorCode),
            },
          },
        ),
      ],
    }),
  };
  return {
    module,
    processes,
    sessions,
    statuses,
    calls,
    /** The user completes the process's authentications. */
    complete(processId: string) {
      processes.get(processId)!.status = 'DONE';
    },
  };
}

/** The stand-in for the app's PKCS#7 signature over `bytes` (see the file comment). */
export function fakeSign(userId: string, bytes: string): string {
  return createHmac('sha256', `signing-key-of-${userId}`).update(bytes, 'utf8').digest('base64');
}

export interface Harness {
  running: RunningServices;
  database: TestDatabase;
  users: ReturnType<typeof fakeUserService>;
  ledger: LedgerServiceClient;
  logs: ReturnType<typeof createCapturingDestination>;
  /** A KRW account for the user with an opening balance (deposited through the ledger). */
  openAccount(userId: string, balance: bigint, limits?: { perTransaction?: bigint; perDay?: bigint }): Promise<LedgerAccount>;
  balance(userId: string, accountNumber: string): Promise<bigint>;
  /** Every outbox event so far (the notification feed). */
  events(): Promise<{ userId: string; entryId: bigint; kind: string; amount: bigint; counterpartyName: string; memo: string }[]>;
  close(): Promise<void>;
}

/** A unary call as a promise: `call<Res>((cb) => client.method(request, cb))`. */
export function call<Res>(start: (cb: (e: grpc.ServiceError | null, r: Res) => void) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => start((e, r) => (e ? reject(e) : resolve(r))));
}

const krw = (majorAmount: bigint) => ({ currencyCode: CurrencyCode.KRW, majorAmount, minorAmount: 0n });

/**
 * `userModule`: the real user service instead of the stand-in (whose helpers then see nothing).
 * `userService`: the stand-in as an older user service would answer.
 * `accountModule`: the account module built with other options (a ledger clock, for instance).
 */
export async function startHarness(
  modules: ServiceModule[],
  options: { userModule?: ServiceModule; accountModule?: ServiceModule; userService?: FakeUserServiceOptions } = {},
): Promise<Harness> {
  const users = fakeUserService(options.userService);
  const logs = createCapturingDestination();
  const services = await startTestServices([options.accountModule ?? accountModule, options.userModule ?? users.module, ...modules], {
    name: 'transfer-test',
    databaseOptions: { poolMax: 16 },
    logDestination: logs,
  });
  const { running, database } = services;
  // The ledger as its callers call it: casa opens accounts, funding deposits, notification reads the outbox.
  const ledger = clientAsCallers(
    running.internalClientsOf,
    LedgerServiceClient,
    { createAccount: 'casa', deposit: 'funding', listOutboxEvents: 'notification' },
    'transfer',
  );
  let deposits = 0;
  return {
    running,
    database,
    users,
    ledger,
    logs,
    async openAccount(userId, balance, limits = {}) {
      // fromPartial: fields the ledger contract gains later keep their defaults.
      const request = CreateAccountRequest.fromPartial({
        ownerUserId: userId,
        accountName: '입출금통장',
        currency: CurrencyCode.KRW,
        limitPerTransaction: krw(limits.perTransaction ?? 0n),
        limitPerDay: krw(limits.perDay ?? 0n),
        accountColor: '',
      });
      const { account } = await call<CreateAccountResponse>((cb) => ledger.createAccount(request, cb));
      if (balance > 0n) {
        const request = {
          idempotencyKey: `opening-${++deposits}-${account!.accountNumber}`,
          accountNumber: account!.accountNumber,
          amount: krw(balance),
          memo: 'opening',
          events: [],
        };
        await call<DepositResponse>((cb) => ledger.deposit(request, cb));
      }
      return account!;
    },
    async balance(userId, accountNumber) {
      const { account } = await call<GetAccountForOwnerResponse>((cb) =>
        ledger.getAccountForOwner({ ownerUserId: userId, accountNumber }, cb),
      );
      return account!.balance!.majorAmount;
    },
    async events() {
      const { events } = await call<ListOutboxEventsResponse>((cb) => ledger.listOutboxEvents({ afterId: 0n, limit: 1000 }, cb));
      return events.map((e) => ({
        userId: e.userId,
        entryId: e.entryId,
        kind: OutboxEventKind[e.kind],
        amount: e.amount?.majorAmount ?? 0n,
        counterpartyName: e.counterpartyName,
        memo: e.memo,
      }));
    },
    close: () => services.close(),
  };
}

// Test stand-ins for the two services casa calls, served with defineService on the internal
// listener of a test process: the user service (FindByUserId, and session tokens for the mobile
// guard) and the ledger (CreateAccount), each recording what it was asked.
import { randomInt } from 'node:crypto';
import { DomainError } from '@kfrm/errors';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import {
  CreateAccountApiError,
  CreateAccountApiError_ErrorCode,
  LedgerAccount,
  LedgerServiceService,
  type CreateAccountRequest,
} from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import {
  FindBySessionTokenApiError,
  FindBySessionTokenApiError_ErrorCode,
  KycStatus,
  User,
  UserServiceService,
  UserSession,
} from '@kfrm/proto/gen/kfrm/api/user/user';
import type { ServiceModule } from '@kfrm/runtime';
import { apiErrorType, defineService, type ApiErrorType, type MethodPolicy } from '@kfrm/server-kit';

export interface FakeUser {
  userStatus: UserStatus;
  customerId: string;
  kycStatus: KycStatus;
  residentId: string;
  phoneNumber: string;
}

export const readyUser = (over: Partial<FakeUser> = {}): FakeUser => ({
  userStatus: UserStatus.ACTIVATED,
  customerId: 'C000000000001',
  kycStatus: KycStatus.VERIFIED,
  // Born 1990-03-15; phone ends 1234-5678.
  residentId: '900315-1234567',
  phoneNumber: '010-1234-5678',
  ...over,
});

/** Every method of the definition on the internal listener (whatever methods the contract has now). */
function internalOnly<D extends object>(definition: D, errors: Partial<Record<keyof D, ApiErrorType>>) {
  return Object.fromEntries(
    Object.keys(definition).map((k) => [
      k,
      { access: 'internal' as const, callers: ['*'] as readonly string[], errors: errors[k as keyof D] },
    ]),
  ) as {
    [K in keyof D]: MethodPolicy;
  };
}

const notFound = () => new DomainError('USER_NOT_FOUND', 'no such user');

export function fakeUserService() {
  const users = new Map<string, FakeUser>();
  /** session token → user and device (for the mobile guard). */
  const sessions = new Map<string, { userId: string; deviceId: bigint }>();
  let findCalls = 0;
  const module: ServiceModule = {
    name: 'fake-user',
    create: () => ({
      internal: [
        defineService(
          UserServiceService,
          {
            async findBySessionToken(request) {
              const session = sessions.get(request.sessionToken);
              if (!session) throw notFound();
              return { userSession: UserSession.fromPartial({ userId: BigInt(session.userId), deviceId: session.deviceId }) };
            },
            async findByUserId(request) {
              findCalls++;
              const user = users.get(request.userId);
              if (!user) throw notFound();
              return { user: User.fromPartial({ userId: BigInt(request.userId), userName: '홍길동', ...user }) };
            },
          },
          internalOnly(UserServiceService, {
            findByUserId: apiErrorType(FindBySessionTokenApiError, FindBySessionTokenApiError_ErrorCode),
          }),
        ),
      ],
    }),
  };
  return { module, users, sessions, findCalls: () => findCalls };
}

export type LedgerBehaviour =
  /** Creates the account and answers. */
  | 'ok'
  /** Refuses (INVALID_AMOUNT, a definite "no"): nothing created. */
  | 'refuse'
  /** Creates the account, then fails as if the answer were lost (INTERNAL). */
  | 'create-then-fail';

export function fakeLedgerService() {
  const created: { request: CreateAccountRequest; accountNumber: string }[] = [];
  const calls: CreateAccountRequest[] = [];
  let behaviour: LedgerBehaviour = 'ok';
  /** When set, CreateAccount waits for it (to hold a call open while others run). */
  let gate: Promise<void> | undefined;
  const module: ServiceModule = {
    name: 'fake-ledger',
    create: () => ({
      internal: [
        defineService(
          LedgerServiceService,
          {
            async createAccount(request) {
              calls.push(request);
              if (gate) await gate;
              if (behaviour === 'refuse') throw new DomainError('INVALID_AMOUNT', 'refused by the test');
              const accountNumber = `100-${String(randomInt(1e9)).padStart(10, '0')}`;
              created.push({ request, accountNumber });
              if (behaviour === 'create-then-fail') throw new Error('answer lost (test)');
              return {
                account: LedgerAccount.fromPartial({
                  accountNumber,
                  ownerUserId: request.ownerUserId,
                  accountName: request.accountName,
                  balance: { currencyCode: CurrencyCode.KRW, majorAmount: 0n, minorAmount: 0n },
                  limitPerTransaction: request.limitPerTransaction,
                  limitPerDay: request.limitPerDay,
                }),
              };
            },
          },
          internalOnly(LedgerServiceService, { createAccount: apiErrorType(CreateAccountApiError, CreateAccountApiError_ErrorCode) }),
        ),
      ],
    }),
  };
  return {
    module,
    calls,
    created,
    setBehaviour(next: LedgerBehaviour) {
      behaviour = next;
    },
    /** Holds every CreateAccount until the returned function is called. */
    hold(): () => void {
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

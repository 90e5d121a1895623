// The two services casa calls, behind small ports: the user service (whose record says where the
// user stands) and the ledger (which creates the account). The gRPC adapters live here so the use
// cases never see grpc-js.
import { status } from '@grpc/grpc-js';
import { failWith, UpstreamRefusal } from '@kfrm/errors';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import {
  CreateAccountApiError,
  CreateAccountApiError_ErrorCode,
  type LedgerServiceClient,
} from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import {
  FindBySessionTokenApiError,
  FindBySessionTokenApiError_ErrorCode,
  KycStatus,
  type UserServiceClient,
} from '@kfrm/proto/gen/kfrm/api/user/user';
import { grpcStatusOf, unaryCall } from '@kfrm/runtime';
import { apiErrorType } from '@kfrm/server-kit';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';

/** What casa needs of a user; always the user service's record, never the request. */
export interface CasaUser {
  userId: string;
  /** Only an ACTIVATED user can open an account. */
  active: boolean;
  /** Empty until the CIF process has given the user a customer id. */
  customerId: string;
  kycVerified: boolean;
  residentId: string;
  phoneNumber: string;
}

/** What finding a user raises (the use cases that call it list these in their own unions). */
export type FindUserCode = 'USER_NOT_FOUND' | 'EXTERNAL_SERVICE_UNAVAILABLE';
const findUserFailed = failWith<FindUserCode>();

export interface UserDirectory {
  /** Throws DomainError USER_NOT_FOUND or EXTERNAL_SERVICE_UNAVAILABLE (FindUserCode). */
  findUser(userId: string): Promise<CasaUser>;
}

export interface NewLedgerAccount {
  /** The same for every attempt of one user's opening: a retry after a lost answer gets the same account. */
  idempotencyKey: string;
  ownerUserId: string;
  accountName: string;
  limitPerTransactionKrw: bigint;
  limitPerDayKrw: bigint;
}

/** The ledger answered "no": nothing was created. */
export class LedgerRefusedError extends Error {
  override name = 'LedgerRefusedError';
}

/** The call may or may not have created the account (timeout, lost connection, server error). */
export class LedgerOutcomeUnknownError extends Error {
  override name = 'LedgerOutcomeUnknownError';
}

export interface LedgerAccounts {
  /** The new account's number; throws LedgerRefusedError or LedgerOutcomeUnknownError. */
  createAccount(input: NewLedgerAccount): Promise<{ accountNumber: string }>;
}

// FindByUserId answers with FindBySessionToken's ApiError (USER_NOT_FOUND).
const findUserErrors = apiErrorType(FindBySessionTokenApiError, FindBySessionTokenApiError_ErrorCode);
const createAccountErrors = apiErrorType(CreateAccountApiError, CreateAccountApiError_ErrorCode);

export function grpcUserDirectory(client: () => UserServiceClient, timeoutMs = 3_000): UserDirectory {
  return {
    async findUser(userId) {
      let response;
      try {
        response = await unaryCall(client(), 'findByUserId', { userId }, { errors: findUserErrors, timeoutMs });
      } catch (err) {
        const notFound = (err instanceof UpstreamRefusal && err.code === 'USER_NOT_FOUND') || grpcStatusOf(err) === status.NOT_FOUND;
        if (notFound) throw findUserFailed('USER_NOT_FOUND', 'The user was not found.', { cause: err });
        throw findUserFailed('EXTERNAL_SERVICE_UNAVAILABLE', 'The user service cannot be reached.', { cause: err });
      }
      const user = response.user;
      if (!user || user.userId.toString() !== userId) throw findUserFailed('USER_NOT_FOUND', 'The user was not found.');
      return {
        userId,
        active: user.userStatus === UserStatus.ACTIVATED,
        customerId: user.customerId.trim(),
        kycVerified: user.kycStatus === KycStatus.VERIFIED,
        residentId: user.residentId,
        phoneNumber: user.phoneNumber,
      };
    },
  };
}

/** Codes after which the ledger surely did not create anything. Everything else: outcome unknown. */
const DEFINITE_REFUSALS = new Set<status>([
  status.INVALID_ARGUMENT,
  status.FAILED_PRECONDITION,
  status.OUT_OF_RANGE,
  status.NOT_FOUND,
  status.ALREADY_EXISTS,
  status.PERMISSION_DENIED,
  status.UNAUTHENTICATED,
  status.UNIMPLEMENTED,
]);

const krw = (amount: bigint) => ({ currencyCode: CurrencyCode.KRW, majorAmount: amount, minorAmount: 0n });

export function grpcLedgerAccounts(client: () => LedgerServiceClient, timeoutMs = 5_000): LedgerAccounts {
  return {
    async createAccount(input) {
      let response;
      try {
        response = await unaryCall(
          client(),
          'createAccount',
          {
            ownerUserId: input.ownerUserId,
            accountName: input.accountName,
            currency: CurrencyCode.KRW,
            limitPerTransaction: krw(input.limitPerTransactionKrw),
            limitPerDay: krw(input.limitPerDayKrw),
            accountColor: '',
            idempotencyKey: input.idempotencyKey,
          },
          { errors: createAccountErrors, timeoutMs },
        );
      } catch (err) {
        // A seed code is a definite "no"; so is a status that says the request itself was refused.
        // An outage or anything else: the account may exist.
        const refused = err instanceof UpstreamRefusal || DEFINITE_REFUSALS.has(grpcStatusOf(err) ?? status.UNKNOWN);
        const Kind = refused ? LedgerRefusedError : LedgerOutcomeUnknownError;
        throw new Kind(
          `ledger CreateAccount failed: ${err instanceof UpstreamRefusal ? err.code : status[grpcStatusOf(err) ?? status.UNKNOWN]}`,
          { cause: err },
        );
      }
      const account = response.account;
      if (!account?.accountNumber || account.ownerUserId !== input.ownerUserId) {
        throw new LedgerOutcomeUnknownError('ledger CreateAccount answered without the account');
      }
      return { accountNumber: account.accountNumber };
    },
  };
}

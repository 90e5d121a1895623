import { status } from '@grpc/grpc-js';
import { failWith, UpstreamRefusal } from '@kfrm/errors';
import {
  FindBySessionTokenApiError,
  FindBySessionTokenApiError_ErrorCode,
  type UserServiceClient,
} from '@kfrm/proto/gen/kfrm/api/user/user';
import { grpcStatusOf, unaryCall } from '@kfrm/runtime';
import { apiErrorType } from '@kfrm/server-kit';

/** What funding needs of a user; always from the user service's record, never from a request. */
export interface UserRecord {
  userId: string;
  name: string;
  /** Digits only, as kakaoCert wants it. */
  phone: string;
  /** yyyyMMdd, from the resident id. */
  birthDate: string;
}

/** The seed codes `findUser` raises; a use case that looks a user up raises them too. */
export type FindUserCode = 'USER_NOT_FOUND' | 'USER_PROFILE_INCOMPLETE' | 'EXTERNAL_SERVICE_UNAVAILABLE';

const userFailed = failWith<FindUserCode>();

export interface UserDirectory {
  /** Throws DomainError<FindUserCode>. */
  findUser(userId: string, signal?: AbortSignal): Promise<UserRecord>;
}

/**
 * Birth date from a resident registration number YYMMDD-GNNNNNN: the century comes from the
 * first digit of the second half (1, 2, 5, 6: 1900s; 3, 4, 7, 8: 2000s; 9, 0: 1800s).
 * undefined when the id is malformed or names no real date.
 */
export function birthDateFromResidentId(residentId: string): string | undefined {
  const match = /^(\d{2})(\d{2})(\d{2})-?(\d)\d{6}$/.exec(residentId.trim());
  if (!match) return undefined;
  const [, yy, mm, dd, g] = match as unknown as [string, string, string, string, string];
  const century = '1256'.includes(g) ? '19' : '3478'.includes(g) ? '20' : '18';
  const year = Number(century + yy);
  const month = Number(mm);
  const day = Number(dd);
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return `${century}${yy}${mm}${dd}`;
}

const incomplete = (what: string) => userFailed('USER_PROFILE_INCOMPLETE', `The user's record has no usable ${what}.`);

/** Checks and converts the user service's record into what the adapters need. */
export function userRecordFrom(user: { userId: string; userName: string; phoneNumber: string; residentId: string }): UserRecord {
  const name = user.userName.trim();
  if (!name) throw incomplete('name');
  const birthDate = birthDateFromResidentId(user.residentId);
  if (!birthDate) throw incomplete('resident id');
  const phone = user.phoneNumber.replace(/[\s-]/g, '');
  if (!/^\d{10,11}$/.test(phone)) throw incomplete('phone number');
  return { userId: user.userId, name, phone, birthDate };
}

// FindByUserId answers with FindBySessionToken's ApiError (USER_NOT_FOUND).
const findUserErrors = apiErrorType(FindBySessionTokenApiError, FindBySessionTokenApiError_ErrorCode);

/** The user service's internal FindByUserId. */
export function grpcUserDirectory(client: () => UserServiceClient, timeoutMs = 3_000): UserDirectory {
  return {
    async findUser(userId, signal) {
      let response;
      try {
        response = await unaryCall(client(), 'findByUserId', { userId }, { errors: findUserErrors, timeoutMs, signal });
      } catch (err) {
        const notFound = (err instanceof UpstreamRefusal && err.code === 'USER_NOT_FOUND') || grpcStatusOf(err) === status.NOT_FOUND;
        if (notFound) throw userFailed('USER_NOT_FOUND', 'The user was not found.', { cause: err });
        throw userFailed('EXTERNAL_SERVICE_UNAVAILABLE', 'The user service cannot be reached.', { cause: err });
      }
      const user = response.user;
      if (!user) throw userFailed('USER_NOT_FOUND', 'The user was not found.');
      return userRecordFrom({ userId, userName: user.userName, phoneNumber: user.phoneNumber, residentId: user.residentId });
    },
  };
}

// Protobuf ⇄ domain conversions shared by the handlers.
import { InvalidArgumentError } from '@kfrm/errors';
import {
  AuthenticatedTransactionType,
  AuthenticationProcess_ProcessStatus,
  AuthenticationType,
  Authentication_AuthenticationStatus,
  type AuthenticationProcess,
} from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { KycStatus, type User, type UserSession } from '@kfrm/proto/gen/kfrm/api/user/user';
import type { FactorType } from './policy';
import { residentIdOf, type ResidentIdSealer } from './resident-id-seal';
import type { KycStatusName, ProcessRecord, TransactionTypeName, UserRecord, UserStatusName } from './user.model';

const USER_STATUS: Record<UserStatusName, UserStatus> = {
  CREATED: UserStatus.CREATED,
  AGREED: UserStatus.AGREED,
  ACTIVATED: UserStatus.ACTIVATED,
  BLOCKED: UserStatus.BLOCKED,
  DEACTIVATED: UserStatus.DEACTIVATED,
};

const KYC_STATUS: Record<KycStatusName, KycStatus> = {
  NONE: KycStatus.NONE,
  REGISTERED: KycStatus.REGISTERED,
  PROCESSING: KycStatus.PROCESSING,
  ON_HOLD: KycStatus.ON_HOLD,
  REJECTED: KycStatus.REJECTED,
  VERIFIED: KycStatus.VERIFIED,
};

const TRANSACTION_TYPE: Record<TransactionTypeName, AuthenticatedTransactionType> = {
  LOGIN: AuthenticatedTransactionType.LOGIN,
  ACTIVATE_BIOMETRIC: AuthenticatedTransactionType.ACTIVATE_BIOMETRIC,
  DEACTIVATE_BIOMETRIC: AuthenticatedTransactionType.DEACTIVATE_BIOMETRIC,
  CHANGE_DEVICE: AuthenticatedTransactionType.CHANGE_DEVICE,
  REINSTALL_APP: AuthenticatedTransactionType.REINSTALL_APP,
  TRANSFER: AuthenticatedTransactionType.TRANSFER,
  REISSUE_SIGNING_CERTIFICATE: AuthenticatedTransactionType.REISSUE_SIGNING_CERTIFICATE,
  CHANGE_TRANSFER_LIMIT: AuthenticatedTransactionType.CHANGE_TRANSFER_LIMIT,
  WITHDRAW_MEMBER: AuthenticatedTransactionType.WITHDRAW_MEMBER,
};

const FACTOR: Record<FactorType | 'NONE', AuthenticationType> = {
  NONE: AuthenticationType.NONE,
  PIN: AuthenticationType.PIN,
  PATTERN: AuthenticationType.PATTERN,
  BIO: AuthenticationType.BIO,
};

function reverse<K extends string, V>(table: Record<K, V>): Map<V, K> {
  return new Map(Object.entries(table).map(([k, v]) => [v as V, k as K]));
}
const USER_STATUS_NAME = reverse(USER_STATUS);
const KYC_STATUS_NAME = reverse(KYC_STATUS);
const TRANSACTION_TYPE_NAME = reverse(TRANSACTION_TYPE);

export const toProtoUserStatus = (status: UserStatusName): UserStatus => USER_STATUS[status];
export const toProtoKycStatus = (status: KycStatusName): KycStatus => KYC_STATUS[status];
export const toProtoTransactionType = (type: TransactionTypeName): AuthenticatedTransactionType => TRANSACTION_TYPE[type];

export function userStatusName(value: UserStatus, field: string): UserStatusName {
  const name = USER_STATUS_NAME.get(value);
  if (!name) throw new InvalidArgumentError(`${field} is required`);
  return name;
}

export function kycStatusName(value: KycStatus): KycStatusName {
  const name = KYC_STATUS_NAME.get(value);
  if (!name) throw new InvalidArgumentError('kyc_status is not valid');
  return name;
}

export function transactionTypeName(value: AuthenticatedTransactionType): TransactionTypeName {
  const name = TRANSACTION_TYPE_NAME.get(value);
  if (!name) throw new InvalidArgumentError('transaction_type is required');
  return name;
}

/** PIN, PATTERN or BIO; undefined for anything else (the domain answers AUTHENTICATION_TYPE_NOT_DEFINED). */
export function factorType(value: AuthenticationType): FactorType | undefined {
  if (value === AuthenticationType.PIN) return 'PIN';
  if (value === AuthenticationType.PATTERN) return 'PATTERN';
  if (value === AuthenticationType.BIO) return 'BIO';
  return undefined;
}

/** Decimal uint64 text (FindByUserId takes the id as a string). */
export function parseUserId(text: string): bigint {
  if (!/^[1-9][0-9]{0,19}$/.test(text)) throw new InvalidArgumentError('user_id must be a decimal number');
  const id = BigInt(text);
  if (id > 0xffff_ffff_ffff_ffffn) throw new InvalidArgumentError('user_id is out of range');
  return id;
}

export function requireId(value: bigint, field: string): bigint {
  if (value === 0n) throw new InvalidArgumentError(`${field} is required`);
  return value;
}

/**
 * The seed's User. `user_token` is always empty (only its hash is kept) and so is
 * `verification_hint` (registration state, held by auth). `resident_id` is opened here, for
 * internal callers only (casa's birth-date rule); a seal that does not open throws (INTERNAL)
 * rather than answering an empty resident id.
 */
export function toProtoUser(user: UserRecord, residentIds: ResidentIdSealer): User {
  return {
    userId: user.id,
    deviceId: user.deviceId ?? 0n,
    idpType: user.idpType,
    idpName: user.idpName,
    userName: user.userName,
    phoneNumber: user.phoneNumber,
    verificationHint: '',
    userCi: user.userCi,
    userToken: '',
    userStatus: USER_STATUS[user.status],
    residentId: residentIdOf(residentIds, user) ?? '',
    customerId: user.customerId ?? '',
    reason: user.reason ?? '',
    kycStatus: KYC_STATUS[user.kycStatus],
    validatedAt: user.validatedAt?.toISOString() ?? '',
    createdAt: user.createdAt.toISOString(),
  };
}

/** The seed's UserSession; `expired_at` is empty when there is no session (FindByCustomerId). */
export function toProtoUserSession(user: UserRecord, session?: { deviceId: bigint; sessionExpiresAt: Date }): UserSession {
  return {
    userId: user.id,
    deviceId: session?.deviceId ?? user.deviceId ?? 0n,
    userStatus: USER_STATUS[user.status],
    userName: user.userName,
    phoneNumber: user.phoneNumber,
    customerId: user.customerId ?? '',
    kycStatus: KYC_STATUS[user.kycStatus],
    expiredAt: session?.sessionExpiresAt.toISOString() ?? '',
  };
}

export function toProtoProcess(process: ProcessRecord): AuthenticationProcess {
  return {
    processId: process.id,
    status:
      process.status === 'DONE'
        ? AuthenticationProcess_ProcessStatus.DONE
        : process.status === 'IN_PROGRESS'
          ? AuthenticationProcess_ProcessStatus.IN_PROGRESS
          : AuthenticationProcess_ProcessStatus.READY,
    authentications: process.authentications.map((a) => ({
      type: FACTOR[a.type],
      status: a.status === 'DONE' ? Authentication_AuthenticationStatus.DONE : Authentication_AuthenticationStatus.READY,
      fallback: FACTOR[a.fallback],
    })),
  };
}

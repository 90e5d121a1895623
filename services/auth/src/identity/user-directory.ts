import type { InternalClients } from '@kfrm/runtime';
import type { AuthenticatedTransactionType, AuthenticationProcess, AuthenticationType } from '@kfrm/proto/gen/kfrm/api/common/common';
import type { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import {
  DeviceRegistryServiceClient,
  RevocationReason,
  RevokeDeviceApiError,
  RevokeDeviceApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/device/device_internal';
import {
  CreateProcessApiError,
  CreateProcessApiError_ErrorCode,
  FindBySessionTokenApiError,
  FindBySessionTokenApiError_ErrorCode,
  UserServiceClient,
  type KycStatus,
  type User,
} from '@kfrm/proto/gen/kfrm/api/user/user';
import {
  BindDeviceApiError,
  BindDeviceApiError_ErrorCode,
  CompleteAuthenticationApiError,
  CompleteAuthenticationApiError_ErrorCode,
  ConsumeProcessApiError,
  ConsumeProcessApiError_ErrorCode,
  CreateSessionApiError,
  CreateSessionApiError_ErrorCode,
  FindByUserTokenApiError,
  FindByUserTokenApiError_ErrorCode,
  GetRunningProcessApiError,
  GetRunningProcessApiError_ErrorCode,
  ProcessStepServiceClient,
  RegisterUserApiError,
  RegisterUserApiError_ErrorCode,
  RotateSessionApiError,
  RotateSessionApiError_ErrorCode,
  SessionServiceClient,
  UpdateCustomerInfoApiError,
  UpdateCustomerInfoApiError_ErrorCode,
  UpdateKycApiError,
  UpdateKycApiError_ErrorCode,
  UpdateUserStatusApiError,
  UpdateUserStatusApiError_ErrorCode,
  UserAccountServiceClient,
  type CreateSessionResponse,
  type RegisterUserRequest,
  type RegisterUserResponse,
} from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { callRemote, isDomainError } from './remote';

export type { User };

/** A user as found by its user token, with the DeviceUUID.id it registered with. */
export type RegisteredUser = User & { deviceUuid: string };

export interface RunningProcess {
  process: AuthenticationProcess;
  transactionType: AuthenticatedTransactionType;
}

export interface SessionTokens {
  sessionToken: string;
  sessionExpiredAt: string;
  refreshToken: string;
  refreshExpiredAt: string;
}

/**
 * What the auth service needs from the user service (users, sessions, processes) and the device
 * service (certificate revocation). Errors arrive as DomainErrors with the remote seed code.
 */
export interface UserDirectory {
  registerUser(request: RegisterUserRequest): Promise<RegisterUserResponse>;
  /** undefined when no user has this token. */
  findByUserToken(userToken: string): Promise<RegisteredUser | undefined>;
  findByUserId(userId: bigint): Promise<User | undefined>;
  /** `unlock` only from the operator's unlock (BLOCKED → ACTIVATED). */
  updateUserStatus(userId: bigint, expected: UserStatus, next: UserStatus, reason: string, options?: { unlock?: boolean }): Promise<void>;
  updateCustomerInfo(userId: bigint, residentId: string, name: string): Promise<string>;
  updateKyc(userId: bigint, kycStatus: KycStatus, reason: string): Promise<void>;
  /** `deviceUuid` becomes the user's registered DeviceUUID; '' keeps the one on record. */
  bindDevice(userId: bigint, deviceId: bigint, deviceUuid: string): Promise<bigint>;
  createProcess(userId: bigint, type: AuthenticatedTransactionType, context: string): Promise<AuthenticationProcess>;
  getRunningProcess(processId: string, userId: bigint): Promise<RunningProcess>;
  completeAuthentication(processId: string, userId: bigint, type: AuthenticationType): Promise<AuthenticationProcess>;
  /** `context` must be byte-for-byte the one the process was created with. */
  consumeProcess(processId: string, userId: bigint, type: AuthenticatedTransactionType, context: string): Promise<void>;
  createSession(userId: bigint, deviceId: bigint, processId: string): Promise<SessionTokens>;
  rotateSession(refreshToken: string, deviceId: bigint): Promise<SessionTokens>;
  revokeSessions(userId: bigint, deviceId: bigint, reason: string): Promise<number>;
  /** Revokes a device certificate; an unknown device is not an error. */
  revokeDevice(deviceId: bigint): Promise<void>;
}

const errors = <M, C extends Record<string | number, string | number>>(message: M, codes: C) => ({ message: message as never, codes });

export function createUserDirectory(clients: InternalClients): UserDirectory {
  const accounts = () => clients.get(UserAccountServiceClient);
  const users = () => clients.get(UserServiceClient);
  const sessions = () => clients.get(SessionServiceClient);
  const steps = () => clients.get(ProcessStepServiceClient);
  const devices = () => clients.get(DeviceRegistryServiceClient);
  const tokens = (r: CreateSessionResponse): SessionTokens => ({
    sessionToken: r.sessionToken,
    sessionExpiredAt: r.sessionExpiredAt,
    refreshToken: r.refreshToken,
    refreshExpiredAt: r.refreshExpiredAt,
  });
  return {
    registerUser: (request) => callRemote(accounts(), accounts().registerUser, request, errors(RegisterUserApiError, RegisterUserApiError_ErrorCode)),
    async findByUserToken(userToken) {
      if (!userToken) return undefined;
      try {
        const c = accounts();
        const r = await callRemote(c, c.findByUserToken, { userToken }, errors(FindByUserTokenApiError, FindByUserTokenApiError_ErrorCode));
        return r.user && { ...r.user, deviceUuid: r.deviceUuid };
      } catch (err) {
        if (isDomainError(err, 'USER_NOT_FOUND')) return undefined;
        throw err;
      }
    },
    async findByUserId(userId) {
      try {
        const c = users();
        return (await callRemote(c, c.findByUserId, { userId: String(userId) }, errors(FindBySessionTokenApiError, FindBySessionTokenApiError_ErrorCode))).user;
      } catch (err) {
        if (isDomainError(err, 'USER_NOT_FOUND')) return undefined;
        throw err;
      }
    },
    async updateUserStatus(userId, expectedStatus, newStatus, reason, options) {
      const c = accounts();
      await callRemote(c, c.updateUserStatus, { userId, expectedStatus, newStatus, reason, unlock: options?.unlock === true }, errors(UpdateUserStatusApiError, UpdateUserStatusApiError_ErrorCode));
    },
    async updateCustomerInfo(userId, residentId, name) {
      const c = accounts();
      return (await callRemote(c, c.updateCustomerInfo, { userId, residentId, name }, errors(UpdateCustomerInfoApiError, UpdateCustomerInfoApiError_ErrorCode))).customerId;
    },
    async updateKyc(userId, kycStatus, reason) {
      const c = accounts();
      await callRemote(c, c.updateKyc, { userId, kycStatus, reason }, errors(UpdateKycApiError, UpdateKycApiError_ErrorCode));
    },
    async bindDevice(userId, deviceId, deviceUuid) {
      const c = accounts();
      return (await callRemote(c, c.bindDevice, { userId, deviceId, deviceUuid }, errors(BindDeviceApiError, BindDeviceApiError_ErrorCode))).previousDeviceId;
    },
    async createProcess(userId, transactionType, transactionContext) {
      const c = users();
      const r = await callRemote(c, c.createProcess, { userId, transactionType, transactionContext }, errors(CreateProcessApiError, CreateProcessApiError_ErrorCode));
      if (!r.process) throw new Error('CreateProcess answered without a process');
      return r.process;
    },
    async getRunningProcess(processId, userId) {
      const c = steps();
      const r = await callRemote(c, c.getRunningProcess, { processId, userId }, errors(GetRunningProcessApiError, GetRunningProcessApiError_ErrorCode));
      if (!r.process) throw new Error('GetRunningProcess answered without a process');
      return { process: r.process, transactionType: r.transactionType };
    },
    async completeAuthentication(processId, userId, type) {
      const c = steps();
      const r = await callRemote(c, c.completeAuthentication, { processId, userId, type }, errors(CompleteAuthenticationApiError, CompleteAuthenticationApiError_ErrorCode));
      if (!r.process) throw new Error('CompleteAuthentication answered without a process');
      return r.process;
    },
    async consumeProcess(processId, userId, transactionType, transactionContext) {
      const c = steps();
      await callRemote(c, c.consumeProcess, { processId, userId, transactionType, transactionContext }, errors(ConsumeProcessApiError, ConsumeProcessApiError_ErrorCode));
    },
    async createSession(userId, deviceId, processId) {
      const c = sessions();
      return tokens(await callRemote(c, c.createSession, { userId, deviceId, processId }, errors(CreateSessionApiError, CreateSessionApiError_ErrorCode)));
    },
    async rotateSession(refreshToken, deviceId) {
      const c = sessions();
      return tokens(await callRemote(c, c.rotateSession, { refreshToken, deviceId }, errors(RotateSessionApiError, RotateSessionApiError_ErrorCode)));
    },
    async revokeSessions(userId, deviceId, reason) {
      const c = sessions();
      return (await callRemote(c, c.revokeSessions, { userId, deviceId, reason })).revoked;
    },
    async revokeDevice(deviceId) {
      const c = devices();
      try {
        await callRemote(c, c.revokeDevice, { deviceId, reason: RevocationReason.REVOCATION_REASON_DEVICE_CHANGED }, errors(RevokeDeviceApiError, RevokeDeviceApiError_ErrorCode));
      } catch (err) {
        if (!isDomainError(err, 'DEVICE_NOT_FOUND')) throw err;
      }
    },
  };
}

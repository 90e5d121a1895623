import { status } from '@grpc/grpc-js';
import { type CodeOf, DomainError, InvalidArgumentError, isDomainError, UpstreamRefusal, UpstreamUnavailableError } from '@kfrm/errors';
import { grpcStatusOf, unaryCall, type InternalClients } from '@kfrm/runtime';
import { apiErrorType } from '@kfrm/server-kit';
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
  CreateProcessForUserTokenApiError,
  CreateProcessForUserTokenApiError_ErrorCode,
  CreateSessionApiError,
  CreateSessionApiError_ErrorCode,
  FindByUserTokenApiError,
  FindByUserTokenApiError_ErrorCode,
  FindSessionIdApiError,
  FindSessionIdApiError_ErrorCode,
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
  type SessionSummary,
  type RegisterUserRequest,
  type RegisterUserResponse,
} from '@kfrm/proto/gen/kfrm/api/user/user_internal';

export type { SessionSummary, User };

/** A user as found by its user token, with the DeviceUUID.id it registered with. */
export type RegisteredUser = User & { deviceUuid: string };

export interface RunningProcess {
  process: AuthenticationProcess;
  transactionType: AuthenticatedTransactionType;
  /** Opaque; given back to completeAuthentication, the step is completed without reading the process again. */
  revision: string;
}

/** The holder of a user token as a factor check needs it (UserAccountService.GetRunningProcessForUserToken). */
export interface TokenHolder {
  userId: bigint;
  userStatus: UserStatus;
  deviceId: bigint;
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
  /** `kycData`: the customer's submission (RegisterKyc), stored sealed with the status; '' keeps it. */
  updateKyc(userId: bigint, kycStatus: KycStatus, reason: string, kycData?: string): Promise<void>;
  /** `deviceUuid` becomes the user's registered DeviceUUID; '' keeps the one on record. */
  bindDevice(userId: bigint, deviceId: bigint, deviceUuid: string): Promise<bigint>;
  createProcess(userId: bigint, type: AuthenticatedTransactionType, context: string): Promise<AuthenticationProcess>;
  /**
   * A process for the holder of the user token, when they are ACTIVATED and bound to `deviceId`,
   * found and created in one call (and one statement): with `contextIfListed` when the holder is
   * one of `listedUserIds`, else `context`. undefined for no such holder (ADR 0021).
   */
  createProcessForUserToken(
    userToken: string,
    deviceId: bigint,
    type: AuthenticatedTransactionType,
    context: string,
    listed: { userIds: readonly bigint[]; context: string },
  ): Promise<AuthenticationProcess | undefined>;
  getRunningProcess(processId: string, userId: bigint): Promise<RunningProcess>;
  /**
   * The holder of the user token and, when it is theirs and running, the process, in one call
   * (and one read). No holder: neither. Refusals are the caller's to make.
   */
  getRunningProcessForUserToken(userToken: string, processId: string): Promise<{ user?: TokenHolder; running?: RunningProcess }>;
  /** `revision`: the one getRunningProcess gave for the process the factor was checked against. */
  completeAuthentication(processId: string, userId: bigint, type: AuthenticationType, revision?: string): Promise<AuthenticationProcess>;
  /** `context` must be byte-for-byte the one the process was created with. */
  consumeProcess(processId: string, userId: bigint, type: AuthenticatedTransactionType, context: string): Promise<void>;
  /**
   * A session for the holder of the user token on its bound device, from the user's DONE LOGIN
   * process; the user service looks the user up in the same transaction (user service with
   * CreateSessionRequest.user_token, ADR 0015).
   */
  createSessionForUserToken(
    userToken: string,
    deviceId: bigint,
    processId: string,
  ): Promise<SessionTokens & { userId: bigint; userName: string }>;
  rotateSession(refreshToken: string, deviceId: bigint): Promise<SessionTokens>;
  revokeSessions(userId: bigint, deviceId: bigint, reason: string): Promise<number>;
  /** Ends one login (session id) of the user; 0 when it is unknown, ended or another user's. */
  revokeSession(userId: bigint, sessionId: string, reason: string): Promise<number>;
  /** Ends every login of the user but one. */
  revokeOtherSessions(userId: bigint, keepSessionId: string, reason: string): Promise<number>;
  /** The user's live logins, newest first. */
  listSessions(userId: bigint): Promise<SessionSummary[]>;
  /** The login a live session token belongs to. */
  findSessionId(sessionToken: string): Promise<string>;
  /** The users (not DEACTIVATED) whose bound device this is. */
  findUsersOnDevice(deviceId: bigint): Promise<bigint[]>;
  /** Revokes a device certificate; an unknown device is not an error. */
  revokeDevice(deviceId: bigint): Promise<void>;
}

/**
 * The seed codes each directory call fails with: the callee method's ApiError enum, arriving as
 * auth DomainErrors of the same name (asAuthError), less the codes the call reads as a value.
 * Use cases build their unions from these, so a code the callee's enum gains reaches their
 * `raises` and every method that calls it has to decide on it.
 */
export interface DirectoryCode {
  registerUser: CodeOf<typeof RegisterUserApiError_ErrorCode>;
  /** USER_NOT_FOUND is `undefined`. */
  findByUserToken: Exclude<CodeOf<typeof FindByUserTokenApiError_ErrorCode>, 'USER_NOT_FOUND'>;
  /** USER_NOT_FOUND is `undefined`; decoded with FindBySessionToken's enum, so its other codes are possible in type. */
  findByUserId: Exclude<CodeOf<typeof FindBySessionTokenApiError_ErrorCode>, 'USER_NOT_FOUND'>;
  updateUserStatus: CodeOf<typeof UpdateUserStatusApiError_ErrorCode>;
  updateCustomerInfo: CodeOf<typeof UpdateCustomerInfoApiError_ErrorCode>;
  updateKyc: CodeOf<typeof UpdateKycApiError_ErrorCode>;
  bindDevice: CodeOf<typeof BindDeviceApiError_ErrorCode>;
  createProcess: CodeOf<typeof CreateProcessApiError_ErrorCode>;
  createProcessForUserToken: CodeOf<typeof CreateProcessForUserTokenApiError_ErrorCode>;
  getRunningProcess: CodeOf<typeof GetRunningProcessApiError_ErrorCode>;
  completeAuthentication: CodeOf<typeof CompleteAuthenticationApiError_ErrorCode>;
  consumeProcess: CodeOf<typeof ConsumeProcessApiError_ErrorCode>;
  createSession: CodeOf<typeof CreateSessionApiError_ErrorCode>;
  rotateSession: CodeOf<typeof RotateSessionApiError_ErrorCode>;
  /** Called without an ApiError (the seed gives RevokeSessions none): no code is decoded. */
  revokeSessions: never;
  revokeSession: never;
  revokeOtherSessions: never;
  listSessions: never;
  findSessionId: CodeOf<typeof FindSessionIdApiError_ErrorCode>;
  findUsersOnDevice: never;
  /** DEVICE_NOT_FOUND is not an error. */
  revokeDevice: Exclude<CodeOf<typeof RevokeDeviceApiError_ErrorCode>, 'DEVICE_NOT_FOUND'>;
}

const errors = {
  registerUser: apiErrorType(RegisterUserApiError, RegisterUserApiError_ErrorCode),
  findByUserToken: apiErrorType(FindByUserTokenApiError, FindByUserTokenApiError_ErrorCode),
  // FindByUserId shares FindBySessionToken's ApiError (USER_NOT_FOUND).
  findByUserId: apiErrorType(FindBySessionTokenApiError, FindBySessionTokenApiError_ErrorCode),
  updateUserStatus: apiErrorType(UpdateUserStatusApiError, UpdateUserStatusApiError_ErrorCode),
  updateCustomerInfo: apiErrorType(UpdateCustomerInfoApiError, UpdateCustomerInfoApiError_ErrorCode),
  updateKyc: apiErrorType(UpdateKycApiError, UpdateKycApiError_ErrorCode),
  bindDevice: apiErrorType(BindDeviceApiError, BindDeviceApiError_ErrorCode),
  createProcess: apiErrorType(CreateProcessApiError, CreateProcessApiError_ErrorCode),
  createProcessForUserToken: apiErrorType(CreateProcessForUserTokenApiError, CreateProcessForUserTokenApiError_ErrorCode),
  getRunningProcess: apiErrorType(GetRunningProcessApiError, GetRunningProcessApiError_ErrorCode),
  completeAuthentication: apiErrorType(CompleteAuthenticationApiError, CompleteAuthenticationApiError_ErrorCode),
  consumeProcess: apiErrorType(ConsumeProcessApiError, ConsumeProcessApiError_ErrorCode),
  createSession: apiErrorType(CreateSessionApiError, CreateSessionApiError_ErrorCode),
  rotateSession: apiErrorType(RotateSessionApiError, RotateSessionApiError_ErrorCode),
  revokeDevice: apiErrorType(RevokeDeviceApiError, RevokeDeviceApiError_ErrorCode),
  findSessionId: apiErrorType(FindSessionIdApiError, FindSessionIdApiError_ErrorCode),
};

/**
 * What a failed call to the user or device service becomes for auth's use cases. Their seed
 * codes are the ones auth's own methods answer for the same facts (USER_NOT_FOUND,
 * AUTHENTICATION_FAILED, …; ADR 0003), so a refusal comes back as a DomainError with the same
 * code; the use cases translate the few they must. An outage stays UpstreamUnavailableError
 * (UNAVAILABLE: an identity check that cannot be made is never a pass); a value the other service
 * refused came from this call's request (INVALID_ARGUMENT); anything else is a bug (INTERNAL).
 */
function asAuthError(err: unknown): never {
  if (err instanceof UpstreamRefusal) throw new DomainError(err.code, err.message, { cause: err });
  if (err instanceof UpstreamUnavailableError) throw err;
  if (grpcStatusOf(err) === status.INVALID_ARGUMENT)
    throw new InvalidArgumentError((err as { details?: string }).details || 'invalid argument');
  throw new Error(`internal call failed with status ${grpcStatusOf(err)}`, { cause: err });
}

export function createUserDirectory(clients: InternalClients): UserDirectory {
  const accounts = () => clients.get(UserAccountServiceClient);
  const users = () => clients.get(UserServiceClient);
  const sessions = () => clients.get(SessionServiceClient);
  const steps = () => clients.get(ProcessStepServiceClient);
  const devices = () => clients.get(DeviceRegistryServiceClient);
  const tokens = (r: Omit<CreateSessionResponse, 'userId' | 'userName'>): SessionTokens => ({
    sessionToken: r.sessionToken,
    sessionExpiredAt: r.sessionExpiredAt,
    refreshToken: r.refreshToken,
    refreshExpiredAt: r.refreshExpiredAt,
  });
  return {
    registerUser: (request) => unaryCall(accounts(), 'registerUser', request, { errors: errors.registerUser }).catch(asAuthError),
    async findByUserToken(userToken) {
      if (!userToken) return undefined;
      try {
        const r = await unaryCall(accounts(), 'findByUserToken', { userToken }, { errors: errors.findByUserToken }).catch(asAuthError);
        return r.user && { ...r.user, deviceUuid: r.deviceUuid };
      } catch (err) {
        if (isDomainError(err, 'USER_NOT_FOUND')) return undefined;
        throw err;
      }
    },
    async findByUserId(userId) {
      try {
        return (await unaryCall(users(), 'findByUserId', { userId: String(userId) }, { errors: errors.findByUserId }).catch(asAuthError))
          .user;
      } catch (err) {
        if (isDomainError(err, 'USER_NOT_FOUND')) return undefined;
        throw err;
      }
    },
    async updateUserStatus(userId, expectedStatus, newStatus, reason, options) {
      await unaryCall(
        accounts(),
        'updateUserStatus',
        { userId, expectedStatus, newStatus, reason, unlock: options?.unlock === true },
        { errors: errors.updateUserStatus },
      ).catch(asAuthError);
    },
    async updateCustomerInfo(userId, residentId, name) {
      return (
        await unaryCall(accounts(), 'updateCustomerInfo', { userId, residentId, name }, { errors: errors.updateCustomerInfo }).catch(
          asAuthError,
        )
      ).customerId;
    },
    async updateKyc(userId, kycStatus, reason, kycData = '') {
      await unaryCall(accounts(), 'updateKyc', { userId, kycStatus, reason, kycData }, { errors: errors.updateKyc }).catch(asAuthError);
    },
    async bindDevice(userId, deviceId, deviceUuid) {
      return (await unaryCall(accounts(), 'bindDevice', { userId, deviceId, deviceUuid }, { errors: errors.bindDevice }).catch(asAuthError))
        .previousDeviceId;
    },
    async createProcess(userId, transactionType, transactionContext) {
      const r = await unaryCall(
        users(),
        'createProcess',
        { userId, transactionType, transactionContext },
        { errors: errors.createProcess },
      ).catch(asAuthError);
      if (!r.process) throw new Error('CreateProcess answered without a process');
      return r.process;
    },
    async createProcessForUserToken(userToken, deviceId, transactionType, transactionContext, listed) {
      if (!userToken) return undefined;
      const r = await unaryCall(
        accounts(),
        'createProcessForUserToken',
        {
          userToken,
          deviceId,
          transactionType,
          transactionContext,
          listedUserIds: [...listed.userIds],
          transactionContextIfListed: listed.context,
        },
        { errors: errors.createProcessForUserToken },
      ).catch(asAuthError);
      return r.process;
    },
    async getRunningProcess(processId, userId) {
      const r = await unaryCall(steps(), 'getRunningProcess', { processId, userId }, { errors: errors.getRunningProcess }).catch(
        asAuthError,
      );
      if (!r.process) throw new Error('GetRunningProcess answered without a process');
      return { process: r.process, transactionType: r.transactionType, revision: r.revision };
    },
    async getRunningProcessForUserToken(userToken, processId) {
      if (!userToken) return {};
      const r = await unaryCall(accounts(), 'getRunningProcessForUserToken', { userToken, processId }).catch(asAuthError);
      if (!r.user) return {};
      const running = r.process && { process: r.process, transactionType: r.transactionType, revision: r.revision };
      return { user: r.user, ...(running ? { running } : {}) };
    },
    async completeAuthentication(processId, userId, type, revision) {
      const r = await unaryCall(
        steps(),
        'completeAuthentication',
        { processId, userId, type, ...(revision ? { revision } : {}) },
        { errors: errors.completeAuthentication },
      ).catch(asAuthError);
      if (!r.process) throw new Error('CompleteAuthentication answered without a process');
      return r.process;
    },
    async consumeProcess(processId, userId, transactionType, transactionContext) {
      await unaryCall(
        steps(),
        'consumeProcess',
        { processId, userId, transactionType, transactionContext },
        { errors: errors.consumeProcess },
      ).catch(asAuthError);
    },
    async createSessionForUserToken(userToken, deviceId, processId) {
      const r = await unaryCall(
        sessions(),
        'createSession',
        { userId: 0n, userToken, deviceId, processId },
        { errors: errors.createSession },
      ).catch(asAuthError);
      // A user service from before user_token refuses user_id 0; one that knows it names the user.
      if (r.userId === 0n) throw new Error('CreateSession answered without the user: the user service predates user_token');
      return { ...tokens(r), userId: r.userId, userName: r.userName };
    },
    async rotateSession(refreshToken, deviceId) {
      return tokens(
        await unaryCall(sessions(), 'rotateSession', { refreshToken, deviceId }, { errors: errors.rotateSession }).catch(asAuthError),
      );
    },
    async revokeSessions(userId, deviceId, reason) {
      return (await unaryCall(sessions(), 'revokeSessions', { userId, deviceId, reason }).catch(asAuthError)).revoked;
    },
    async revokeSession(userId, sessionId, reason) {
      return (await unaryCall(sessions(), 'revokeSession', { userId, sessionId, reason }).catch(asAuthError)).revoked;
    },
    async revokeOtherSessions(userId, keepSessionId, reason) {
      return (await unaryCall(sessions(), 'revokeOtherSessions', { userId, keepSessionId, reason }).catch(asAuthError)).revoked;
    },
    async listSessions(userId) {
      return (await unaryCall(sessions(), 'listSessions', { userId }).catch(asAuthError)).sessions;
    },
    async findSessionId(sessionToken) {
      return (await unaryCall(sessions(), 'findSessionId', { sessionToken }, { errors: errors.findSessionId }).catch(asAuthError))
        .sessionId;
    },
    async findUsersOnDevice(deviceId) {
      return (await unaryCall(accounts(), 'findUsersOnDevice', { deviceId }).catch(asAuthError)).userIds;
    },
    async revokeDevice(deviceId) {
      try {
        await unaryCall(
          devices(),
          'revokeDevice',
          { deviceId, reason: RevocationReason.REVOCATION_REASON_DEVICE_CHANGED },
          { errors: errors.revokeDevice },
        );
      } catch (err) {
        if (err instanceof UpstreamRefusal && err.code === 'DEVICE_NOT_FOUND') return;
        asAuthError(err);
      }
    },
  };
}

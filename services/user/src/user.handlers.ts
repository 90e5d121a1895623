import {
  CreateProcessApiError,
  CreateProcessApiError_ErrorCode,
  FindBySessionTokenApiError,
  FindBySessionTokenApiError_ErrorCode,
  GetProcessApiError,
  GetProcessApiError_ErrorCode,
  KycStatus,
  UserServiceService,
} from '@kfrm/proto/gen/kfrm/api/user/user';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
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
  ProcessStepServiceService,
  RegisterUserApiError,
  RegisterUserApiError_ErrorCode,
  RotateSessionApiError,
  RotateSessionApiError_ErrorCode,
  SessionServiceService,
  UpdateCustomerInfoApiError,
  UpdateCustomerInfoApiError_ErrorCode,
  GetKycDataApiError,
  GetKycDataApiError_ErrorCode,
  LookupCustomerApiError,
  LookupCustomerApiError_ErrorCode,
  UpdateKycApiError,
  UpdateKycApiError_ErrorCode,
  UpdateUserStatusApiError,
  UpdateUserStatusApiError_ErrorCode,
  UserAccountServiceService,
} from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { InvalidArgumentError } from '@kfrm/errors';
import { apiErrorType, defineService, raises } from '@kfrm/server-kit';
import type {
  Accounts,
  BindDeviceCode,
  FindUserCode,
  RegisterUserCode,
  UpdateCustomerInfoCode,
  UpdateKycCode,
  UpdateUserStatusCode,
} from './accounts';
import type {
  CompleteAuthenticationCode,
  ConsumeProcessCode,
  CreateProcessCode,
  GetProcessCode,
  GetRunningProcessCode,
  Processes,
} from './processes';
import { processRevision } from './processes';
import type { GetKycDataCode, KycReview, LookupCustomerCode } from './kyc-review';
import type { ResidentIdSealer } from './resident-id-seal';
import type { CreateSessionCode, FindBySessionTokenCode, FindSessionIdCode, RotateSessionCode, Sessions } from './sessions';
import {
  factorType,
  kycStatusName,
  parseUserId,
  requireId,
  toProtoProcess,
  toProtoTransactionType,
  toProtoKycStatus,
  toProtoUser,
  toProtoUserSession,
  toProtoUserStatus,
  transactionTypeName,
  userStatusName,
} from './user.mapping';

export interface UserUseCases {
  accounts: Accounts;
  sessions: Sessions;
  processes: Processes;
  residentIds: ResidentIdSealer;
  kycReview: KycReview;
}

/** The seed's internal UserService. */
export function userServiceHandlers({ accounts, sessions, processes, residentIds }: UserUseCases) {
  const findErrors = apiErrorType(FindBySessionTokenApiError, FindBySessionTokenApiError_ErrorCode);
  return defineService(
    UserServiceService,
    {
      async findBySessionToken(request) {
        const { session, user } = await sessions.findBySessionToken(request.sessionToken);
        return { userSession: toProtoUserSession(user, session) };
      },
      async findByCustomerId(request) {
        return { userSession: toProtoUserSession(await accounts.findByCustomerId(request.customerId)) };
      },
      async findByUserId(request) {
        return { user: toProtoUser(await accounts.findByUserId(parseUserId(request.userId)), residentIds) };
      },
      async createProcess(request) {
        const input = {
          userId: requireId(request.userId, 'user_id'),
          transactionType: transactionTypeName(request.transactionType),
          transactionContext: request.transactionContext,
        };
        // 0 is no user id (as user_id): asked for nobody.
        if (!request.recipientUserId) {
          const process = await processes.createProcess(input);
          // The name as FindByUserId answers it, for a caller that would look it up next (ADR 0018).
          return { process: toProtoProcess(process), userName: process.userName };
        }
        const { created, recipient } = await processes.createProcessForRecipient({ ...input, recipientUserId: request.recipientUserId });
        // No process unless the recipient is ACTIVATED (ADR 0019); no such user answers UNKNOWN, as FindByUserId's contract.
        return {
          process: created && toProtoProcess(created),
          userName: created?.userName,
          recipientStatus: recipient.status === null ? UserStatus.UNKNOWN : toProtoUserStatus(recipient.status),
          recipientName: recipient.userName,
        };
      },
      async getProcess(request) {
        const { process, verified, consumed, recipientStatus } = await processes.getProcess({
          processId: request.processId,
          userId: requireId(request.userId, 'user_id'),
          signedData: request.signedData,
          originData: request.originData,
          // Both or neither: half a request to consume is answered as a plain read.
          consume:
            request.consumeTransactionType !== undefined && request.consumeTransactionContext !== undefined
              ? {
                  transactionType: transactionTypeName(request.consumeTransactionType),
                  transactionContext: request.consumeTransactionContext,
                  // 0 is no user id (as user_id): asked for nobody.
                  ...(request.recipientUserId ? { recipientUserId: request.recipientUserId } : {}),
                }
              : undefined,
        });
        return {
          process: toProtoProcess(process),
          isVerified: verified,
          consumed,
          // null: no such user, which the contract answers as UNKNOWN; undefined: not asked or not read.
          recipientStatus:
            recipientStatus === undefined ? undefined : recipientStatus === null ? UserStatus.UNKNOWN : toProtoUserStatus(recipientStatus),
        };
      },
    },
    {
      // Every process serving session-level methods resolves sessions through it (@kfrm/runtime's session resolver).
      findBySessionToken: { access: 'internal', callers: ['*'], errors: findErrors, raises: raises<FindBySessionTokenCode>() },
      // No service looks users up by customer id today.
      findByCustomerId: { access: 'internal', callers: [], errors: findErrors, raises: raises<FindUserCode>() },
      findByUserId: {
        access: 'internal',
        callers: ['auth', 'casa', 'funding', 'transfer'],
        errors: findErrors,
        raises: raises<FindUserCode>(),
      },
      createProcess: {
        access: 'internal',
        callers: ['auth', 'transfer'],
        errors: apiErrorType(CreateProcessApiError, CreateProcessApiError_ErrorCode),
        raises: raises<CreateProcessCode>(),
      },
      getProcess: {
        access: 'internal',
        callers: ['transfer'],
        errors: apiErrorType(GetProcessApiError, GetProcessApiError_ErrorCode),
        raises: raises<GetProcessCode>(),
      },
    },
  );
}

export function userAccountHandlers({ accounts, residentIds, kycReview, processes }: UserUseCases) {
  return defineService(
    UserAccountServiceService,
    {
      async registerUser(request) {
        const { user, userToken } = await accounts.registerUser({
          idpType: request.idpType,
          idpName: request.idpName,
          userName: request.userName,
          phoneNumber: request.phoneNumber,
          userCi: request.userCi,
          deviceId: request.deviceId,
          deviceUuid: request.deviceUuid,
        });
        return { userId: user.id, userToken, userStatus: toProtoUserStatus(user.status), createdAt: user.createdAt.toISOString() };
      },
      async findByUserToken(request) {
        const user = await accounts.findByUserToken(request.userToken);
        return { user: toProtoUser(user, residentIds), deviceUuid: user.deviceUuid };
      },
      async getRunningProcessForUserToken(request) {
        const { user, process } = await processes.getRunningProcessForUserToken({
          userToken: request.userToken,
          processId: request.processId,
        });
        return {
          user: user && { userId: user.id, userStatus: toProtoUserStatus(user.status), deviceId: user.deviceId ?? 0n },
          process: process && toProtoProcess(process),
          transactionType: process ? toProtoTransactionType(process.transactionType) : 0,
          expiresAt: process?.expiresAt.toISOString() ?? '',
          revision: process ? processRevision(process) : '',
        };
      },
      async createProcessForUserToken(request) {
        const process = await processes.createProcessForUserToken({
          userToken: request.userToken,
          deviceId: requireId(request.deviceId, 'device_id'),
          transactionType: transactionTypeName(request.transactionType),
          transactionContext: request.transactionContext,
          listedUserIds: request.listedUserIds,
          transactionContextIfListed: request.transactionContextIfListed,
        });
        return { process: process && toProtoProcess(process) };
      },
      async updateUserStatus(request) {
        const user = await accounts.updateUserStatus({
          userId: requireId(request.userId, 'user_id'),
          expectedStatus: userStatusName(request.expectedStatus, 'expected_status'),
          newStatus: userStatusName(request.newStatus, 'new_status'),
          reason: request.reason,
          unlock: request.unlock,
        });
        return { user: toProtoUser(user, residentIds) };
      },
      async updateCustomerInfo(request) {
        const user = await accounts.updateCustomerInfo({
          userId: requireId(request.userId, 'user_id'),
          residentId: request.residentId,
          name: request.name,
        });
        return { customerId: user.customerId ?? '' };
      },
      async updateKyc(request, ctx) {
        // The customer's own submission, relayed by the auth service; a reviewer decides on it
        // and never rewrites it.
        if (request.kycData !== '' && ctx.principal.operator) throw new InvalidArgumentError('kyc_data is set by the sign-up only');
        const user = await accounts.updateKyc({
          userId: requireId(request.userId, 'user_id'),
          kycStatus: kycStatusName(request.kycStatus),
          reason: request.reason,
          kycData: request.kycData,
        });
        return { user: toProtoUser(user, residentIds) };
      },
      async listKycReviews(request) {
        const reviews = await kycReview.listReviews(request.limit);
        return {
          reviews: reviews.map((r) => ({
            userId: r.userId,
            kycStatus: toProtoKycStatus(r.kycStatus),
            submittedAt: r.submittedAt?.toISOString() ?? '',
          })),
        };
      },
      async getKycData(request) {
        const { user, kycData, submittedAt } = await kycReview.getKycData(requireId(request.userId, 'user_id'));
        return {
          userId: user.id,
          userName: user.userName,
          userStatus: toProtoUserStatus(user.status),
          kycStatus: toProtoKycStatus(user.kycStatus),
          kycData,
          submittedAt: submittedAt.toISOString(),
        };
      },
      async lookupCustomer(request) {
        const key =
          request.customerId !== undefined && request.customerId !== ''
            ? { customerId: request.customerId }
            : { id: requireId(request.userId ?? 0n, 'user_id or customer_id') };
        const { user, maskedPhone, withdrawnAt } = await kycReview.lookupCustomer(key);
        return {
          customer: {
            userId: user.id,
            customerId: user.customerId ?? '',
            userName: user.userName,
            phoneNumber: maskedPhone,
            userStatus: toProtoUserStatus(user.status),
            kycStatus: toProtoKycStatus(user.kycStatus),
            deviceId: user.deviceId ?? 0n,
            createdAt: user.createdAt.toISOString(),
            withdrawnAt: withdrawnAt?.toISOString() ?? '',
          },
        };
      },
      async bindDevice(request) {
        const { previousDeviceId } = await accounts.bindDevice({
          userId: requireId(request.userId, 'user_id'),
          deviceId: request.deviceId,
          deviceUuid: request.deviceUuid,
        });
        return { previousDeviceId: previousDeviceId ?? 0n };
      },
      async findUsersOnDevice(request) {
        return { userIds: await accounts.findUsersOnDevice(request.deviceId) };
      },
    },
    {
      registerUser: {
        access: 'internal',
        callers: ['auth'],
        errors: apiErrorType(RegisterUserApiError, RegisterUserApiError_ErrorCode),
        raises: raises<RegisterUserCode>(),
      },
      findByUserToken: {
        access: 'internal',
        callers: ['auth'],
        errors: apiErrorType(FindByUserTokenApiError, FindByUserTokenApiError_ErrorCode),
        raises: raises<FindUserCode>(),
      },
      getRunningProcessForUserToken: { access: 'internal', callers: ['auth'], raises: raises() },
      createProcessForUserToken: {
        access: 'internal',
        callers: ['auth'],
        errors: apiErrorType(CreateProcessForUserTokenApiError, CreateProcessForUserTokenApiError_ErrorCode),
        raises: raises<CreateProcessCode>(),
      },
      updateUserStatus: {
        access: 'internal',
        callers: ['auth', 'user'],
        // Unblocking and blocking by hand (the auth service's lockout calls it as a service).
        operator: ['support'],
        // Security events: a lockout (auth: ACTIVATED → BLOCKED), an unblock, a withdrawal.
        audit: {
          action: 'user.status_change',
          target: (r) => `user:${r.userId}`,
          detail: (r) => ({
            from: UserStatus[r.expectedStatus] ?? String(r.expectedStatus),
            to: UserStatus[r.newStatus] ?? String(r.newStatus),
          }),
        },
        // An operator's unblock waits for a second operator.
        approval: { required: (r) => r.expectedStatus === UserStatus.BLOCKED && r.newStatus !== UserStatus.BLOCKED },
        errors: apiErrorType(UpdateUserStatusApiError, UpdateUserStatusApiError_ErrorCode),
        raises: raises<UpdateUserStatusCode>(),
      },
      updateCustomerInfo: {
        access: 'internal',
        callers: ['auth'],
        errors: apiErrorType(UpdateCustomerInfoApiError, UpdateCustomerInfoApiError_ErrorCode),
        raises: raises<UpdateCustomerInfoCode>(),
      },
      updateKyc: {
        access: 'internal',
        callers: ['auth'],
        operator: ['kyc-reviewer'],
        audit: {
          action: 'user.kyc_decision',
          target: (r) => `user:${r.userId}`,
          detail: (r) => ({ kyc_status: KycStatus[r.kycStatus] ?? String(r.kycStatus) }),
        },
        errors: apiErrorType(UpdateKycApiError, UpdateKycApiError_ErrorCode),
        raises: raises<UpdateKycCode>(),
      },
      bindDevice: {
        access: 'internal',
        callers: ['auth'],
        errors: apiErrorType(BindDeviceApiError, BindDeviceApiError_ErrorCode),
        raises: raises<BindDeviceCode>(),
      },
      findUsersOnDevice: { access: 'internal', callers: ['auth'], raises: raises() },
      listKycReviews: {
        access: 'internal',
        operator: ['kyc-reviewer'],
        audit: { action: 'user.kyc_queue_read', target: () => 'kyc_review_queue' },
        raises: raises(),
      },
      getKycData: {
        access: 'internal',
        operator: ['kyc-reviewer'],
        // Personal data opened: who read whose, never what.
        audit: { action: 'user.kyc_data_read', target: (r) => `user:${r.userId}` },
        errors: apiErrorType(GetKycDataApiError, GetKycDataApiError_ErrorCode),
        raises: raises<GetKycDataCode>(),
      },
      lookupCustomer: {
        access: 'internal',
        operator: ['support', 'teller', 'kyc-reviewer'],
        audit: {
          action: 'user.customer_lookup',
          target: (r) => (r.customerId ? `customer:${r.customerId}` : `user:${r.userId ?? 0n}`),
        },
        errors: apiErrorType(LookupCustomerApiError, LookupCustomerApiError_ErrorCode),
        raises: raises<LookupCustomerCode>(),
      },
    },
  );
}

export function sessionHandlers({ sessions }: UserUseCases) {
  const pair = (s: { sessionToken: string; sessionExpiresAt: Date; refreshToken: string; refreshExpiresAt: Date }) => ({
    sessionToken: s.sessionToken,
    sessionExpiredAt: s.sessionExpiresAt.toISOString(),
    refreshToken: s.refreshToken,
    refreshExpiredAt: s.refreshExpiresAt.toISOString(),
  });
  return defineService(
    SessionServiceService,
    {
      async createSession(request) {
        const deviceId = requireId(request.deviceId, 'device_id');
        // The login's caller holds a user token: the user is looked up with the session's write.
        const issued =
          request.userToken !== undefined && request.userToken !== ''
            ? await sessions.createSession({ userToken: request.userToken, deviceId, processId: request.processId })
            : await sessions.createSession({ userId: requireId(request.userId, 'user_id'), deviceId, processId: request.processId });
        return { ...pair(issued), userId: issued.userId, userName: issued.userName };
      },
      async rotateSession(request) {
        return pair(
          await sessions.rotateSession({ refreshToken: request.refreshToken, deviceId: requireId(request.deviceId, 'device_id') }),
        );
      },
      async revokeSessions(request) {
        return {
          revoked: await sessions.revokeSessions({
            userId: requireId(request.userId, 'user_id'),
            deviceId: request.deviceId,
            reason: request.reason,
          }),
        };
      },
      async revokeSession(request) {
        if (!request.sessionId) return { revoked: 0 };
        return {
          revoked: await sessions.revokeSessions({
            userId: requireId(request.userId, 'user_id'),
            deviceId: 0n,
            reason: request.reason,
            sessionId: request.sessionId,
          }),
        };
      },
      async revokeOtherSessions(request) {
        if (!request.keepSessionId) throw new InvalidArgumentError('keep_session_id is required');
        return {
          revoked: await sessions.revokeSessions({
            userId: requireId(request.userId, 'user_id'),
            deviceId: 0n,
            reason: request.reason,
            keepSessionId: request.keepSessionId,
          }),
        };
      },
      async listSessions(request) {
        const logins = await sessions.listSessions(requireId(request.userId, 'user_id'));
        return {
          sessions: logins.map((l) => ({
            sessionId: l.familyId,
            deviceId: l.deviceId,
            createdAt: l.createdAt.toISOString(),
            lastRefreshedAt: l.lastRefreshedAt.toISOString(),
            expiresAt: l.expiresAt.toISOString(),
          })),
        };
      },
      async findSessionId(request) {
        return { sessionId: await sessions.findSessionId(request.sessionToken) };
      },
    },
    {
      createSession: {
        access: 'internal',
        callers: ['auth'],
        errors: apiErrorType(CreateSessionApiError, CreateSessionApiError_ErrorCode),
        raises: raises<CreateSessionCode>(),
      },
      rotateSession: {
        access: 'internal',
        callers: ['auth'],
        errors: apiErrorType(RotateSessionApiError, RotateSessionApiError_ErrorCode),
        raises: raises<RotateSessionCode>(),
      },
      revokeSessions: {
        access: 'internal',
        callers: ['auth'],
        operator: ['support'],
        audit: {
          action: 'user.session_revocation',
          target: (r) => `user:${r.userId}`,
          detail: (r): Record<string, string> => (r.deviceId === 0n ? { scope: 'all devices' } : { device: `device:${r.deviceId}` }),
        },
        raises: raises(),
      },
      revokeSession: { access: 'internal', callers: ['auth'], raises: raises() },
      revokeOtherSessions: { access: 'internal', callers: ['auth'], raises: raises() },
      listSessions: { access: 'internal', callers: ['auth'], raises: raises() },
      findSessionId: {
        access: 'internal',
        callers: ['auth'],
        errors: apiErrorType(FindSessionIdApiError, FindSessionIdApiError_ErrorCode),
        raises: raises<FindSessionIdCode>(),
      },
    },
  );
}

export function processStepHandlers({ processes }: UserUseCases) {
  return defineService(
    ProcessStepServiceService,
    {
      async getRunningProcess(request) {
        const process = await processes.getRunningProcess({ processId: request.processId, userId: requireId(request.userId, 'user_id') });
        return {
          process: toProtoProcess(process),
          transactionType: toProtoTransactionType(process.transactionType),
          expiresAt: process.expiresAt.toISOString(),
          revision: processRevision(process),
        };
      },
      async completeAuthentication(request) {
        const process = await processes.completeAuthentication({
          processId: request.processId,
          userId: requireId(request.userId, 'user_id'),
          type: factorType(request.type),
          revision: request.revision,
        });
        return { process: toProtoProcess(process) };
      },
      async consumeProcess(request) {
        const process = await processes.consumeProcess({
          processId: request.processId,
          userId: requireId(request.userId, 'user_id'),
          transactionType: transactionTypeName(request.transactionType),
          transactionContext: request.transactionContext,
        });
        return { process: toProtoProcess(process) };
      },
    },
    {
      getRunningProcess: {
        access: 'internal',
        callers: ['auth'],
        errors: apiErrorType(GetRunningProcessApiError, GetRunningProcessApiError_ErrorCode),
        raises: raises<GetRunningProcessCode>(),
      },
      completeAuthentication: {
        access: 'internal',
        callers: ['auth'],
        errors: apiErrorType(CompleteAuthenticationApiError, CompleteAuthenticationApiError_ErrorCode),
        raises: raises<CompleteAuthenticationCode>(),
      },
      consumeProcess: {
        access: 'internal',
        callers: ['auth', 'transfer'],
        errors: apiErrorType(ConsumeProcessApiError, ConsumeProcessApiError_ErrorCode),
        raises: raises<ConsumeProcessCode>(),
      },
    },
  );
}

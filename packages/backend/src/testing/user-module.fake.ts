// A small in-memory stand-in for the user service's internal APIs (UserService,
// UserAccountService, SessionService, ProcessStepService), for testing the auth flows before and
// apart from services/user. It keeps the contract's rules that auth relies on: tokens are random
// and compared by hash, processes are 128-bit random ids that run READY → IN_PROGRESS → DONE and
// are consumed once, refresh tokens rotate and a reused one revokes the family.
import { createHash, randomBytes } from 'node:crypto';
import { DependencyUnavailableError, DomainError } from '@kfrm/errors';
import {
  AuthenticatedTransactionType,
  Authentication_AuthenticationStatus,
  AuthenticationProcess_ProcessStatus,
  AuthenticationType,
  type Authentication,
} from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import {
  CreateProcessApiError,
  CreateProcessApiError_ErrorCode,
  FindBySessionTokenApiError,
  FindBySessionTokenApiError_ErrorCode,
  KycStatus,
  UserServiceService,
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
import type { ServiceModule } from '@kfrm/runtime';
import { apiErrorType, defineService } from '@kfrm/server-kit';

const hash = (token: string) => createHash('sha256').update(token).digest('hex');
const token = () => randomBytes(32).toString('base64url');
// A stand-in serves any service (callers '*'): the real modules' lists are tested with the real modules.
const internal = (message: unknown, codes: Record<string, string | number>) => ({
  access: 'internal' as const,
  callers: ['*'],
  errors: apiErrorType(message as never, codes),
});

interface FakeUser {
  userId: bigint;
  deviceId: bigint;
  deviceUuid: string;
  idpType: string;
  idpName: string;
  userName: string;
  phoneNumber: string;
  userCi: string;
  tokenHash: string;
  status: UserStatus;
  customerId: string;
  kycStatus: KycStatus;
  /** What RegisterKyc submitted (the real service seals it; the fake keeps it as it came). */
  kycData: string;
  kycSubmittedAt: Date | null;
  createdAt: Date;
}

interface FakeProcess {
  processId: string;
  userId: bigint;
  type: AuthenticatedTransactionType;
  authentications: Authentication[];
  consumed: boolean;
}

interface FakeSession {
  userId: bigint;
  deviceId: bigint;
  family: string;
  expiresAt: Date;
}

export interface FakeUserState {
  users: Map<bigint, FakeUser>;
  processes: Map<string, FakeProcess>;
  /** Test hook: answer every call with UNAVAILABLE-like outage. */
  down: boolean;
}

function status(p: FakeProcess): AuthenticationProcess_ProcessStatus {
  const done = p.authentications.filter((a) => a.status === Authentication_AuthenticationStatus.DONE).length;
  if (done === p.authentications.length) return AuthenticationProcess_ProcessStatus.DONE;
  return done === 0 ? AuthenticationProcess_ProcessStatus.READY : AuthenticationProcess_ProcessStatus.IN_PROGRESS;
}
const view = (p: FakeProcess) => ({ processId: p.processId, status: status(p), authentications: p.authentications.map((a) => ({ ...a })) });
const toUser = (u: FakeUser): User => ({
  userId: u.userId,
  deviceId: u.deviceId,
  idpType: u.idpType,
  idpName: u.idpName,
  userName: u.userName,
  phoneNumber: u.phoneNumber,
  verificationHint: '',
  userCi: u.userCi,
  userToken: '',
  userStatus: u.status,
  residentId: '',
  customerId: u.customerId,
  reason: '',
  kycStatus: u.kycStatus,
  validatedAt: '',
  createdAt: u.createdAt.toISOString(),
});

/** The seed policies of services/user, reduced to what auth's tests drive. */
function policy(type: AuthenticatedTransactionType, context: string): Authentication[] {
  const ready = Authentication_AuthenticationStatus.READY;
  if (type === AuthenticatedTransactionType.LOGIN) {
    const bio = (JSON.parse(context || '{}') as { biometric_enabled?: boolean }).biometric_enabled === true;
    return bio
      ? [{ type: AuthenticationType.BIO, fallback: AuthenticationType.PIN, status: ready }]
      : [{ type: AuthenticationType.PIN, fallback: AuthenticationType.PATTERN, status: ready }];
  }
  if (type === AuthenticatedTransactionType.UNKNOWN) throw new DomainError('AUTHENTICATION_POLICY_NOT_FOUND', 'no policy');
  return [{ type: AuthenticationType.PIN, fallback: AuthenticationType.NONE, status: ready }];
}

export function createFakeUserModule(): { module: ServiceModule; state: FakeUserState } {
  const state: FakeUserState = { users: new Map(), processes: new Map(), down: false };
  const sessions = new Map<string, FakeSession>();
  const refresh = new Map<string, { session: FakeSession; used: boolean }>();
  let nextId = 1000n;
  const check = () => {
    if (state.down) throw new DependencyUnavailableError('user store down');
  };
  const user = (id: bigint) => {
    const u = state.users.get(id);
    if (!u) throw new DomainError('USER_NOT_FOUND', 'user not found');
    return u;
  };
  const running = (processId: string, userId: bigint) => {
    const p = state.processes.get(processId);
    if (!p || p.userId !== userId || p.consumed || status(p) === AuthenticationProcess_ProcessStatus.DONE) {
      throw new DomainError('RUNNING_PROCESS_NOT_FOUND', 'no such running process');
    }
    return p;
  };
  const issue = (userId: bigint, deviceId: bigint, family = randomBytes(12).toString('hex')) => {
    const session: FakeSession = { userId, deviceId, family, expiresAt: new Date(Date.now() + 30 * 60_000) };
    const sessionToken = token();
    const refreshToken = token();
    sessions.set(hash(sessionToken), session);
    refresh.set(hash(refreshToken), { session, used: false });
    return {
      sessionToken,
      sessionExpiredAt: session.expiresAt.toISOString(),
      refreshToken,
      refreshExpiredAt: new Date(Date.now() + 86_400_000).toISOString(),
    };
  };
  const revokeFamily = (family: string) => {
    for (const [k, s] of sessions) if (s.family === family) sessions.delete(k);
    for (const [, r] of refresh) if (r.session.family === family) r.used = true;
  };

  const module: ServiceModule = {
    name: 'fake-user',
    create: () => ({
      internal: [
        defineService(
          UserServiceService,
          {
            async findBySessionToken(r) {
              check();
              const s = sessions.get(hash(r.sessionToken));
              if (!s || s.expiresAt < new Date()) throw new DomainError('LOGIN_SESSION_EXPIRED', 'session expired');
              const u = user(s.userId);
              return {
                userSession: {
                  userId: u.userId,
                  deviceId: s.deviceId,
                  userStatus: u.status,
                  userName: u.userName,
                  phoneNumber: u.phoneNumber,
                  customerId: u.customerId,
                  kycStatus: u.kycStatus,
                  expiredAt: s.expiresAt.toISOString(),
                },
              };
            },
            async findByUserId(r) {
              check();
              return { user: toUser(user(BigInt(r.userId))) };
            },
            async createProcess(r) {
              check();
              user(r.userId);
              const p: FakeProcess = {
                processId: randomBytes(16).toString('base64url'),
                userId: r.userId,
                type: r.transactionType,
                authentications: policy(r.transactionType, r.transactionContext),
                consumed: false,
              };
              state.processes.set(p.processId, p);
              return { process: view(p) };
            },
          },
          {
            findBySessionToken: internal(FindBySessionTokenApiError, FindBySessionTokenApiError_ErrorCode),
            findByCustomerId: internal(FindBySessionTokenApiError, FindBySessionTokenApiError_ErrorCode),
            findByUserId: internal(FindBySessionTokenApiError, FindBySessionTokenApiError_ErrorCode),
            createProcess: internal(CreateProcessApiError, CreateProcessApiError_ErrorCode),
            getProcess: { access: 'internal', callers: ['*'] },
          },
        ),
        defineService(
          UserAccountServiceService,
          {
            async registerUser(r) {
              check();
              const existing = [...state.users.values()].find((u) => u.userCi === r.userCi);
              if (existing && (existing.status === UserStatus.ACTIVATED || existing.status === UserStatus.BLOCKED)) {
                throw new DomainError('ALREADY_REGISTERED_USER', 'already registered');
              }
              const userToken = token();
              const u: FakeUser = existing ?? {
                userId: nextId++,
                deviceId: r.deviceId,
                deviceUuid: r.deviceUuid,
                idpType: r.idpType,
                idpName: r.idpName,
                userName: r.userName,
                phoneNumber: r.phoneNumber,
                userCi: r.userCi,
                tokenHash: '',
                status: UserStatus.CREATED,
                customerId: '',
                kycStatus: KycStatus.NONE,
                kycData: '',
                kycSubmittedAt: null,
                createdAt: new Date(),
              };
              Object.assign(u, { deviceId: r.deviceId, deviceUuid: r.deviceUuid, tokenHash: hash(userToken), status: UserStatus.CREATED });
              state.users.set(u.userId, u);
              return { userId: u.userId, userToken, userStatus: u.status, createdAt: u.createdAt.toISOString() };
            },
            async findByUserToken(r) {
              check();
              const u = [...state.users.values()].find((x) => x.tokenHash === hash(r.userToken));
              if (!u) throw new DomainError('USER_NOT_FOUND', 'user not found');
              return { user: toUser(u), deviceUuid: u.deviceUuid };
            },
            async getRunningProcessForUserToken(r) {
              check();
              const u = [...state.users.values()].find((x) => x.tokenHash === hash(r.userToken));
              const none = {
                user: undefined,
                process: undefined,
                transactionType: AuthenticatedTransactionType.LOGIN,
                expiresAt: '',
                revision: '',
              };
              if (!u) return none;
              const holder = { userId: u.userId, userStatus: u.status, deviceId: u.deviceId };
              const p = state.processes.get(r.processId);
              if (!p || p.userId !== u.userId || p.consumed || status(p) === AuthenticationProcess_ProcessStatus.DONE)
                return { ...none, user: holder };
              const expiresAt = new Date(Date.now() + 600_000).toISOString();
              return { user: holder, process: view(p), transactionType: p.type, expiresAt, revision: '' };
            },
            async createProcessForUserToken(r) {
              check();
              const u = [...state.users.values()].find((x) => x.tokenHash === hash(r.userToken));
              if (!u || u.status !== UserStatus.ACTIVATED || u.deviceId !== r.deviceId) return { process: undefined };
              const listed = r.listedUserIds.includes(u.userId);
              const p: FakeProcess = {
                processId: randomBytes(16).toString('base64url'),
                userId: u.userId,
                type: r.transactionType,
                authentications: policy(r.transactionType, listed ? r.transactionContextIfListed : r.transactionContext),
                consumed: false,
              };
              state.processes.set(p.processId, p);
              return { process: view(p) };
            },
            async updateUserStatus(r) {
              check();
              const u = user(r.userId);
              if (u.status !== r.expectedStatus || (u.status === UserStatus.BLOCKED && !r.unlock))
                throw new DomainError('USER_STATUS_CONFLICT', 'status conflict');
              u.status = r.newStatus;
              return { user: toUser(u) };
            },
            async updateCustomerInfo(r) {
              check();
              const u = user(r.userId);
              if (!/^[0-9]{6}-?[0-9]{7}$/.test(r.residentId)) throw new DomainError('USER_VERIFICATION_FAILED', 'resident id refused');
              u.customerId ||= `C${String(u.userId).padStart(12, '0')}`;
              return { customerId: u.customerId };
            },
            async updateKyc(r) {
              check();
              const u = user(r.userId);
              u.kycStatus = r.kycStatus;
              if (r.kycData !== '') {
                u.kycData = r.kycData;
                u.kycSubmittedAt = new Date();
              }
              return { user: toUser(u) };
            },
            async bindDevice(r) {
              check();
              const u = user(r.userId);
              const previousDeviceId = u.deviceId;
              u.deviceId = r.deviceId;
              if (r.deviceUuid.trim() !== '') u.deviceUuid = r.deviceUuid;
              return { previousDeviceId };
            },
            async findUsersOnDevice(r) {
              check();
              const userIds = [...state.users.values()]
                .filter((u) => u.deviceId === r.deviceId && u.status !== UserStatus.DEACTIVATED)
                .map((u) => u.userId);
              return { userIds };
            },
            async listKycReviews() {
              check();
              const waiting = [KycStatus.REGISTERED, KycStatus.PROCESSING, KycStatus.ON_HOLD];
              const reviews = [...state.users.values()]
                .filter((u) => waiting.includes(u.kycStatus))
                .map((u) => ({ userId: u.userId, kycStatus: u.kycStatus, submittedAt: u.kycSubmittedAt?.toISOString() ?? '' }));
              return { reviews };
            },
            async getKycData(r) {
              check();
              const u = user(r.userId);
              if (u.kycSubmittedAt === null) throw new DomainError('KYC_DATA_NOT_FOUND', 'no KYC data on record');
              return {
                userId: u.userId,
                userName: u.userName,
                userStatus: u.status,
                kycStatus: u.kycStatus,
                kycData: u.kycData,
                submittedAt: u.kycSubmittedAt.toISOString(),
              };
            },
            async lookupCustomer(r) {
              check();
              const u =
                r.customerId !== undefined && r.customerId !== ''
                  ? [...state.users.values()].find((c) => c.customerId === r.customerId)
                  : state.users.get(r.userId ?? 0n);
              if (!u) throw new DomainError('USER_NOT_FOUND', 'user not found');
              return {
                customer: {
                  userId: u.userId,
                  customerId: u.customerId,
                  userName: u.userName,
                  phoneNumber: u.phoneNumber,
                  userStatus: u.status,
                  kycStatus: u.kycStatus,
                  deviceId: u.deviceId,
                  createdAt: u.createdAt.toISOString(),
                  withdrawnAt: '',
                },
              };
            },
          },
          {
            registerUser: internal(RegisterUserApiError, RegisterUserApiError_ErrorCode),
            findByUserToken: internal(FindByUserTokenApiError, FindByUserTokenApiError_ErrorCode),
            getRunningProcessForUserToken: { access: 'internal', callers: ['*'] },
            createProcessForUserToken: internal(CreateProcessForUserTokenApiError, CreateProcessForUserTokenApiError_ErrorCode),
            updateUserStatus: internal(UpdateUserStatusApiError, UpdateUserStatusApiError_ErrorCode),
            updateCustomerInfo: internal(UpdateCustomerInfoApiError, UpdateCustomerInfoApiError_ErrorCode),
            updateKyc: internal(UpdateKycApiError, UpdateKycApiError_ErrorCode),
            bindDevice: internal(BindDeviceApiError, BindDeviceApiError_ErrorCode),
            findUsersOnDevice: { access: 'internal', callers: ['*'] },
            listKycReviews: { access: 'internal' },
            getKycData: internal(GetKycDataApiError, GetKycDataApiError_ErrorCode),
            lookupCustomer: internal(LookupCustomerApiError, LookupCustomerApiError_ErrorCode),
          },
        ),
        defineService(
          SessionServiceService,
          {
            async createSession(r) {
              check();
              // The login's caller names the user by its token: unknown or unusable is a failed login.
              const holder = r.userToken ? [...state.users.values()].find((x) => x.tokenHash === hash(r.userToken!)) : undefined;
              if (r.userToken && (holder?.status !== UserStatus.ACTIVATED || holder.deviceId !== r.deviceId))
                throw new DomainError('AUTHENTICATION_FAILED', 'authentication failed');
              const userId = holder?.userId ?? r.userId;
              const p = state.processes.get(r.processId);
              if (!p) throw new DomainError('AUTHENTICATION_PROCESS_NOT_FOUND', 'no such process');
              if (
                p.userId !== userId ||
                p.consumed ||
                p.type !== AuthenticatedTransactionType.LOGIN ||
                status(p) !== AuthenticationProcess_ProcessStatus.DONE
              ) {
                throw new DomainError('AUTHENTICATION_FAILED', 'process not usable');
              }
              p.consumed = true;
              return { ...issue(userId, r.deviceId), userId, userName: user(userId).userName };
            },
            async rotateSession(r) {
              check();
              const entry = refresh.get(hash(r.refreshToken));
              if (!entry || entry.session.deviceId !== r.deviceId) throw new DomainError('INVALID_LOGIN_SESSION', 'invalid session');
              if (entry.used) {
                revokeFamily(entry.session.family);
                throw new DomainError('INVALID_LOGIN_SESSION', 'invalid session');
              }
              entry.used = true;
              for (const [k, s] of sessions) if (s === entry.session) sessions.delete(k);
              return issue(entry.session.userId, entry.session.deviceId, entry.session.family);
            },
            async revokeSessions(r) {
              check();
              let revoked = 0;
              for (const [k, s] of sessions) {
                if (s.userId === r.userId && (r.deviceId === 0n || s.deviceId === r.deviceId)) {
                  sessions.delete(k);
                  revoked++;
                }
              }
              return { revoked };
            },
            async revokeSession(r) {
              check();
              let revoked = 0;
              for (const [k, s] of sessions) {
                if (s.userId === r.userId && s.family === r.sessionId) {
                  sessions.delete(k);
                  revoked++;
                }
              }
              return { revoked };
            },
            async revokeOtherSessions(r) {
              check();
              let revoked = 0;
              for (const [k, s] of sessions) {
                if (s.userId === r.userId && s.family !== r.keepSessionId) {
                  sessions.delete(k);
                  revoked++;
                }
              }
              return { revoked };
            },
            async listSessions(r) {
              check();
              const live = [...sessions.values()].filter((s) => s.userId === r.userId);
              return {
                sessions: live.map((s) => ({
                  sessionId: s.family,
                  deviceId: s.deviceId,
                  createdAt: '',
                  lastRefreshedAt: '',
                  expiresAt: s.expiresAt.toISOString(),
                })),
              };
            },
            async findSessionId(r) {
              check();
              const s = sessions.get(hash(r.sessionToken));
              if (!s) throw new DomainError('LOGIN_SESSION_EXPIRED', 'login session expired');
              return { sessionId: s.family };
            },
          },
          {
            createSession: internal(CreateSessionApiError, CreateSessionApiError_ErrorCode),
            rotateSession: internal(RotateSessionApiError, RotateSessionApiError_ErrorCode),
            revokeSessions: { access: 'internal', callers: ['*'] },
            revokeSession: { access: 'internal', callers: ['*'] },
            revokeOtherSessions: { access: 'internal', callers: ['*'] },
            listSessions: { access: 'internal', callers: ['*'] },
            findSessionId: internal(FindSessionIdApiError, FindSessionIdApiError_ErrorCode),
          },
        ),
        defineService(
          ProcessStepServiceService,
          {
            async getRunningProcess(r) {
              check();
              const p = running(r.processId, r.userId);
              // No revision: CompleteAuthentication then reads the process itself.
              return { process: view(p), transactionType: p.type, expiresAt: new Date(Date.now() + 600_000).toISOString(), revision: '' };
            },
            async completeAuthentication(r) {
              check();
              const p = running(r.processId, r.userId);
              const step = p.authentications.find(
                (a) => a.status === Authentication_AuthenticationStatus.READY && (a.type === r.type || a.fallback === r.type),
              );
              if (!step) throw new DomainError('AUTHENTICATION_TYPE_NOT_DEFINED', 'not defined');
              step.status = Authentication_AuthenticationStatus.DONE;
              return { process: view(p) };
            },
            async consumeProcess(r) {
              check();
              const p = state.processes.get(r.processId);
              if (!p || p.userId !== r.userId) throw new DomainError('AUTHENTICATION_PROCESS_NOT_FOUND', 'no such process');
              if (p.consumed || p.type !== r.transactionType || status(p) !== AuthenticationProcess_ProcessStatus.DONE)
                throw new DomainError('AUTHENTICATION_FAILED', 'not usable');
              p.consumed = true;
              return { process: view(p) };
            },
          },
          {
            getRunningProcess: internal(GetRunningProcessApiError, GetRunningProcessApiError_ErrorCode),
            completeAuthentication: internal(CompleteAuthenticationApiError, CompleteAuthenticationApiError_ErrorCode),
            consumeProcess: internal(ConsumeProcessApiError, ConsumeProcessApiError_ErrorCode),
          },
        ),
      ],
    }),
  };
  return { module, state };
}

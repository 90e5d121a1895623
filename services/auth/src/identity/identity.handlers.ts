import { type CommonCode, DomainError, failWith, PermissionDeniedError, type SeedCode } from '@kfrm/errors';
import {
  BiometricServiceService,
  ChangeDeviceApiError,
  ChangeDeviceApiError_ErrorCode,
  ConfirmPatternApiError,
  ConfirmPatternApiError_ErrorCode,
  ConfirmPinApiError,
  ConfirmPinApiError_ErrorCode,
  CreateUserApiError,
  CreateUserApiError_ErrorCode,
  DeviceChangeServiceService,
  IssueSigningCertificateApiError,
  IssueSigningCertificateApiError_ErrorCode,
  LoginApiError,
  LoginApiError_ErrorCode,
  LoginServiceService,
  PrepareActivateBiometricApiError,
  PrepareActivateBiometricApiError_ErrorCode,
  PrepareDeactivateBiometricApiError,
  PrepareDeactivateBiometricApiError_ErrorCode,
  PrepareDeviceChangeApiError,
  PrepareDeviceChangeApiError_ErrorCode,
  PrepareLoginApiError,
  PrepareLoginApiError_ErrorCode,
  RefreshSessionApiError,
  RefreshSessionApiError_ErrorCode,
  RegisterPatternApiError,
  RegisterPatternApiError_ErrorCode,
  RegisterPinApiError,
  RegisterPinApiError_ErrorCode,
  RegistrationServiceService,
  VerifySigningCertificateApiError,
  VerifySigningCertificateApiError_ErrorCode,
  SubmitCustomerInfoApiError,
  SubmitCustomerInfoApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/auth';
import {
  CredentialServiceService,
  GetActiveSigningCertificateApiError,
  GetActiveSigningCertificateApiError_ErrorCode,
  UnlockUserApiError,
  UnlockUserApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import {
  AuthenticateBiometricApiError,
  AuthenticateBiometricApiError_ErrorCode,
  AuthenticateBiometricForLoginApiError,
  AuthenticateBiometricForLoginApiError_ErrorCode,
  AuthenticatePatternApiError,
  AuthenticatePatternApiError_ErrorCode,
  AuthenticatePatternForLoginApiError,
  AuthenticatePatternForLoginApiError_ErrorCode,
  AuthenticatePinApiError,
  AuthenticatePinApiError_ErrorCode,
  AuthenticatePinForLoginApiError,
  AuthenticatePinForLoginApiError_ErrorCode,
  AuthenticationServiceService,
} from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import {
  apiErrorType,
  codeNumber,
  commonApiError,
  defineService,
  raises,
  type ApiErrorType,
  type CallContext,
  type Raises,
} from '@kfrm/server-kit';
import type { AuthenticateCode, Authenticator, Caller } from './authentication';
import type { ActivateBiometricCode, Biometric, DeactivateBiometricCode, PrepareBiometricCode } from './biometric';
import type { ChangeDeviceCode, DeviceChange, PrepareDeviceChangeCode } from './device-change';
import type { IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import type { Login, LoginCode, PrepareLoginCode, RefreshSessionCode } from './login';
import type { Registration } from './registration';
import type { RegisterBiometricCode } from './registration-biometric';
import type { RegisterKycCode, SubmitCustomerInfoCode } from './registration-customer';
import type { ConfirmSecretCode, RegisterSecretCode } from './registration-secrets';
import type { IssueSigningCertificateCode, VerifySigningCertificateCode } from './registration-signing';
import type { AgreeTermsCode, ListTermsCode } from './registration-terms';
import type { CreateUserCode } from './registration-user';
import { revokeCredentials } from './credential-revocation';
import type { Unlock, UnlockUserCode } from './unlock';

/** The device the call came from (its certificate, checked by the access guard). */
export function deviceOf(ctx: CallContext): bigint {
  const id = ctx.principal.device?.deviceId;
  if (!id) throw new Error('device-level method called without a device identity');
  return BigInt(id);
}

export function sessionOf(ctx: CallContext): Caller & { kind: 'session' } {
  const userId = ctx.principal.session?.userId;
  if (!userId) throw new Error('session-level method called without a session');
  return { kind: 'session', userId: BigInt(userId), deviceId: deviceOf(ctx) };
}

/**
 * The seed gives several methods only part of the codes a flow can meet (RegisterPattern has no
 * USER_REGISTRATION_NOT_FOUND, ListTerms none at all). A seed code the method does not declare
 * goes out as PERMISSION_DENIED with the same safe message instead of an INTERNAL error.
 */
export function declared<Req, Res>(errors: ApiErrorType | undefined, handler: (request: Req, ctx: CallContext) => Promise<Res>) {
  return async (request: Req, ctx: CallContext): Promise<Res> => {
    try {
      return await handler(request, ctx);
    } catch (err) {
      if (
        err instanceof DomainError &&
        (!errors || codeNumber(errors, err.code) === undefined) &&
        codeNumber(commonApiError, err.code) === undefined
      ) {
        throw new PermissionDeniedError(err.message, { cause: err });
      }
      throw err;
    }
  };
}

/**
 * `raises` of a method whose handler runs in `declared`: `Denied` are the use case's codes that the
 * seed does not give the method, which `declared` answers PERMISSION_DENIED; every other code of
 * `Code` is checked against the method's ApiError enum and CommonApiError.
 */
export function raisesExcept<Code extends SeedCode, Denied extends Code = never>(): Raises<Exclude<Code, Denied>> {
  return raises<Exclude<Code, Denied>>();
}

/** `raises` of a method the seed gives no ApiError: `declared` answers each of its own codes PERMISSION_DENIED. */
export function raisesNoneOf<Code extends SeedCode>(): Raises<Extract<Code, CommonCode>> {
  return raises<Extract<Code, CommonCode>>();
}

/** The codes that finding an open registration raises beyond what some methods declare. */
type RegistrationOpen = 'ALREADY_REGISTERED_USER' | 'USER_REGISTRATION_NOT_FOUND' | 'USER_REGISTRATION_EXPIRED';

const E = {
  createUser: apiErrorType(CreateUserApiError, CreateUserApiError_ErrorCode),
  registerPin: apiErrorType(RegisterPinApiError, RegisterPinApiError_ErrorCode),
  confirmPin: apiErrorType(ConfirmPinApiError, ConfirmPinApiError_ErrorCode),
  registerPattern: apiErrorType(RegisterPatternApiError, RegisterPatternApiError_ErrorCode),
  confirmPattern: apiErrorType(ConfirmPatternApiError, ConfirmPatternApiError_ErrorCode),
  issueSigningCertificate: apiErrorType(IssueSigningCertificateApiError, IssueSigningCertificateApiError_ErrorCode),
  verifySigningCertificate: apiErrorType(VerifySigningCertificateApiError, VerifySigningCertificateApiError_ErrorCode),
  // Extension: the seed gives SubmitCustomerInfo no enum; one member per resident id needs one code.
  submitCustomerInfo: apiErrorType(SubmitCustomerInfoApiError, SubmitCustomerInfoApiError_ErrorCode),
  prepareLogin: apiErrorType(PrepareLoginApiError, PrepareLoginApiError_ErrorCode),
  login: apiErrorType(LoginApiError, LoginApiError_ErrorCode),
  refreshSession: apiErrorType(RefreshSessionApiError, RefreshSessionApiError_ErrorCode),
  prepareDeviceChange: apiErrorType(PrepareDeviceChangeApiError, PrepareDeviceChangeApiError_ErrorCode),
  changeDevice: apiErrorType(ChangeDeviceApiError, ChangeDeviceApiError_ErrorCode),
  prepareActivateBiometric: apiErrorType(PrepareActivateBiometricApiError, PrepareActivateBiometricApiError_ErrorCode),
  prepareDeactivateBiometric: apiErrorType(PrepareDeactivateBiometricApiError, PrepareDeactivateBiometricApiError_ErrorCode),
  authenticatePin: apiErrorType(AuthenticatePinApiError, AuthenticatePinApiError_ErrorCode),
  authenticatePattern: apiErrorType(AuthenticatePatternApiError, AuthenticatePatternApiError_ErrorCode),
  authenticateBiometric: apiErrorType(AuthenticateBiometricApiError, AuthenticateBiometricApiError_ErrorCode),
  authenticatePinForLogin: apiErrorType(AuthenticatePinForLoginApiError, AuthenticatePinForLoginApiError_ErrorCode),
  authenticatePatternForLogin: apiErrorType(AuthenticatePatternForLoginApiError, AuthenticatePatternForLoginApiError_ErrorCode),
  authenticateBiometricForLogin: apiErrorType(AuthenticateBiometricForLoginApiError, AuthenticateBiometricForLoginApiError_ErrorCode),
  getActiveSigningCertificate: apiErrorType(GetActiveSigningCertificateApiError, GetActiveSigningCertificateApiError_ErrorCode),
  unlockUser: apiErrorType(UnlockUserApiError, UnlockUserApiError_ErrorCode),
};

// Registration and login run on a device certificate plus the user token in the request (there
// is no session yet); biometric (de)activation and the generic authentications need a session.
export const device = <Errors extends ApiErrorType | undefined, R extends Raises<SeedCode>>(errors: Errors, raised: R) => ({
  access: 'device' as const,
  errors,
  raises: raised,
});
export const session = <Errors extends ApiErrorType | undefined, R extends Raises<SeedCode>>(errors: Errors, raised: R) => ({
  access: 'session' as const,
  errors,
  raises: raised,
});
// The same for methods that change something: with an idempotency-key a retry gets the first
// call's answer (server-kit idempotency.ts, docs/idempotency.md).
export const deviceMutation = <Errors extends ApiErrorType | undefined, R extends Raises<SeedCode>>(errors: Errors, raised: R) => ({
  ...device(errors, raised),
  idempotent: true,
});
export const sessionMutation = <Errors extends ApiErrorType | undefined, R extends Raises<SeedCode>>(errors: Errors, raised: R) => ({
  ...session(errors, raised),
  idempotent: true,
});

export function registrationHandlers(registration: Registration) {
  return defineService(
    RegistrationServiceService,
    {
      createUser: declared(E.createUser, async (r, ctx) => {
        const created = await registration.createUser(
          {
            idpType: r.idpType,
            idpName: r.idpName,
            name: r.name,
            phoneNumber: r.phoneNumber,
            verificationHint: r.verificationHint,
            deviceUuid: r.deviceUuid?.id ?? '',
          },
          deviceOf(ctx),
        );
        return { userId: created.userId, userToken: created.userToken, userStatus: created.userStatus, createdAt: created.createdAt };
      }),
      listTerms: declared(undefined, async (r, ctx) => ({
        terms: (await registration.listTerms(r.userToken, deviceOf(ctx))).map((t) => ({
          id: BigInt(t.id),
          name: t.name,
          url: t.url,
          description: t.description,
          mandatory: t.mandatory,
        })),
      })),
      agreeTerms: declared(undefined, async (r, ctx) => {
        await registration.agreeTerms(r.userToken, deviceOf(ctx), r.agreements);
        return { success: true };
      }),
      registerPin: declared(E.registerPin, async (r, ctx) => (await registration.registerPin(r.userToken, deviceOf(ctx), r.pin), {})),
      confirmPin: declared(E.confirmPin, async (r, ctx) => (await registration.confirmPin(r.userToken, deviceOf(ctx), r.pin), {})),
      registerPattern: declared(
        E.registerPattern,
        async (r, ctx) => (await registration.registerPattern(r.userToken, deviceOf(ctx), r.pattern), {}),
      ),
      confirmPattern: declared(
        E.confirmPattern,
        async (r, ctx) => (await registration.confirmPattern(r.userToken, deviceOf(ctx), r.pattern), {}),
      ),
      registerBiometric: declared(
        undefined,
        async (r, ctx) => (await registration.registerBiometric(r.userToken, deviceOf(ctx), r.publicKey), {}),
      ),
      issueSigningCertificate: declared(E.issueSigningCertificate, async (r, ctx) => {
        const issued = await registration.issueSigningCertificate(r.userToken, deviceOf(ctx), r.csr);
        return { certificate: issued.certificate, verificationToken: issued.verificationToken, createdAt: issued.createdAt.toISOString() };
      }),
      verifySigningCertificate: declared(
        E.verifySigningCertificate,
        async (r, ctx) => (await registration.verifySigningCertificate(r.userToken, deviceOf(ctx), r.signedData), {}),
      ),
      submitCustomerInfo: declared(E.submitCustomerInfo, async (r, ctx) => ({
        customerId: await registration.submitCustomerInfo(deviceOf(ctx), r.residentId, r.name),
      })),
      registerKyc: declared(undefined, async (r, ctx) => (await registration.registerKyc(deviceOf(ctx), r.kycData), {})),
    },
    {
      // A user directory's ALREADY_REGISTERED_USER (the identity's CI is taken).
      createUser: deviceMutation(E.createUser, raisesExcept<CreateUserCode, 'ALREADY_REGISTERED_USER'>()),
      listTerms: device(undefined, raisesNoneOf<ListTermsCode>()),
      agreeTerms: deviceMutation(undefined, raisesNoneOf<AgreeTermsCode>()),
      registerPin: deviceMutation(E.registerPin, raisesExcept<RegisterSecretCode<'pin'>>()),
      confirmPin: deviceMutation(E.confirmPin, raisesExcept<ConfirmSecretCode<'pin'>>()),
      registerPattern: deviceMutation(
        E.registerPattern,
        raisesExcept<RegisterSecretCode<'pattern'>, 'USER_REGISTRATION_NOT_FOUND' | 'USER_REGISTRATION_EXPIRED'>(),
      ),
      confirmPattern: deviceMutation(E.confirmPattern, raisesExcept<ConfirmSecretCode<'pattern'>, 'USER_REGISTRATION_EXPIRED'>()),
      registerBiometric: deviceMutation(undefined, raisesNoneOf<RegisterBiometricCode>()),
      // SIGNING_CERTIFICATE_VERIFICATION_FAILED: in the pki's SigningSeedCode, not thrown when issuing.
      issueSigningCertificate: deviceMutation(
        E.issueSigningCertificate,
        raisesExcept<IssueSigningCertificateCode, RegistrationOpen | 'SIGNING_CERTIFICATE_VERIFICATION_FAILED'>(),
      ),
      verifySigningCertificate: deviceMutation(E.verifySigningCertificate, raisesExcept<VerifySigningCertificateCode, RegistrationOpen>()),
      // Its other codes stay PERMISSION_DENIED (declared), as before the extension.
      submitCustomerInfo: deviceMutation(
        E.submitCustomerInfo,
        raises<Extract<SubmitCustomerInfoCode, CommonCode | 'ALREADY_REGISTERED_USER'>>(),
      ),
      registerKyc: deviceMutation(undefined, raisesNoneOf<RegisterKycCode>()),
    },
  );
}

export function loginHandlers(login: Login) {
  return defineService(
    LoginServiceService,
    {
      prepareLogin: declared(E.prepareLogin, async (r, ctx) => ({ process: await login.prepareLogin(r.userToken, deviceOf(ctx)) })),
      login: declared(E.login, async (r, ctx) => {
        const result = await login.login(r.userToken, r.processId, deviceOf(ctx));
        return {
          sessionToken: result.sessionToken,
          sessionExpiredAt: result.sessionExpiredAt,
          refreshToken: result.refreshToken,
          refreshExpiredAt: result.refreshExpiredAt,
          userInfo: { userName: result.userName },
        };
      }),
      refreshSession: declared(E.refreshSession, async (r, ctx) => login.refreshSession(r.refreshToken, deviceOf(ctx))),
    },
    {
      prepareLogin: deviceMutation(E.prepareLogin, raisesExcept<PrepareLoginCode>()),
      login: deviceMutation(E.login, raisesExcept<LoginCode>()),
      refreshSession: deviceMutation(E.refreshSession, raisesExcept<RefreshSessionCode>()),
    },
  );
}

export function deviceChangeHandlers(change: DeviceChange) {
  return defineService(
    DeviceChangeServiceService,
    {
      prepareDeviceChange: declared(E.prepareDeviceChange, async (r, ctx) => ({
        process: await change.prepare(r.userToken, r.deviceUuid?.id ?? '', deviceOf(ctx)),
      })),
      changeDevice: declared(E.changeDevice, async (r, ctx) => (await change.change(r.userToken, r.processId, deviceOf(ctx)), {})),
    },
    {
      prepareDeviceChange: deviceMutation(E.prepareDeviceChange, raisesExcept<PrepareDeviceChangeCode>()),
      // BindDevice's USER_NOT_FOUND (the user went away between the check and the bind).
      changeDevice: deviceMutation(E.changeDevice, raisesExcept<ChangeDeviceCode, 'USER_NOT_FOUND'>()),
    },
  );
}

export function biometricHandlers(biometric: Biometric) {
  return defineService(
    BiometricServiceService,
    {
      prepareActivateBiometric: declared(E.prepareActivateBiometric, async (_r, ctx) => ({
        process: await biometric.prepareActivate(sessionOf(ctx).userId),
      })),
      activateBiometric: declared(undefined, async (r, ctx) => {
        const caller = sessionOf(ctx);
        await biometric.activate(caller.userId, caller.deviceId, r.processId, r.publicKey);
        return {};
      }),
      prepareDeactivateBiometric: declared(E.prepareDeactivateBiometric, async (_r, ctx) => ({
        process: await biometric.prepareDeactivate(sessionOf(ctx).userId),
      })),
      deactivateBiometric: declared(undefined, async (r, ctx) => (await biometric.deactivate(sessionOf(ctx).userId, r.processId), {})),
    },
    {
      prepareActivateBiometric: sessionMutation(E.prepareActivateBiometric, raisesExcept<PrepareBiometricCode>()),
      activateBiometric: sessionMutation(undefined, raisesNoneOf<ActivateBiometricCode>()),
      prepareDeactivateBiometric: sessionMutation(E.prepareDeactivateBiometric, raisesExcept<PrepareBiometricCode>()),
      deactivateBiometric: sessionMutation(undefined, raisesNoneOf<DeactivateBiometricCode>()),
    },
  );
}

export function authenticationHandlers(auth: Authenticator) {
  const byToken = (userToken: string, ctx: CallContext): Caller => ({ kind: 'userToken', userToken, deviceId: deviceOf(ctx) });
  return defineService(
    AuthenticationServiceService,
    {
      authenticatePin: declared(E.authenticatePin, async (r, ctx) => ({
        process: await auth.authenticate(sessionOf(ctx), r.processId, { type: 'PIN', secret: r.pin }),
      })),
      authenticatePattern: declared(E.authenticatePattern, async (r, ctx) => ({
        process: await auth.authenticate(sessionOf(ctx), r.processId, { type: 'PATTERN', secret: r.pattern }),
      })),
      authenticateBiometric: declared(E.authenticateBiometric, async (r, ctx) => ({
        process: await auth.authenticate(sessionOf(ctx), r.processId, { type: 'BIO', signature: r.signature }),
      })),
      authenticatePinForLogin: declared(E.authenticatePinForLogin, async (r, ctx) => ({
        process: await auth.authenticate(byToken(r.userToken, ctx), r.processId, { type: 'PIN', secret: r.pin }),
      })),
      authenticatePatternForLogin: declared(E.authenticatePatternForLogin, async (r, ctx) => ({
        process: await auth.authenticate(byToken(r.userToken, ctx), r.processId, { type: 'PATTERN', secret: r.pattern }),
      })),
      authenticateBiometricForLogin: declared(E.authenticateBiometricForLogin, async (r, ctx) => ({
        process: await auth.authenticate(byToken(r.userToken, ctx), r.processId, { type: 'BIO', signature: r.signature }),
      })),
    },
    {
      authenticatePin: sessionMutation(E.authenticatePin, raisesExcept<AuthenticateCode<'PIN'>>()),
      authenticatePattern: sessionMutation(E.authenticatePattern, raisesExcept<AuthenticateCode<'PATTERN'>>()),
      authenticateBiometric: sessionMutation(E.authenticateBiometric, raisesExcept<AuthenticateCode<'BIO'>>()),
      authenticatePinForLogin: deviceMutation(E.authenticatePinForLogin, raisesExcept<AuthenticateCode<'PIN'>>()),
      authenticatePatternForLogin: deviceMutation(E.authenticatePatternForLogin, raisesExcept<AuthenticateCode<'PATTERN'>>()),
      authenticateBiometricForLogin: deviceMutation(E.authenticateBiometricForLogin, raisesExcept<AuthenticateCode<'BIO'>>()),
    },
  );
}

type GetActiveSigningCertificateCode = 'SIGNING_CERTIFICATE_NOT_FOUND';

/**
 * Internal: the user service's GetProcess checks transfer signatures against the active
 * certificate; the operator's unlock CLI calls UnlockUser.
 */
export function credentialHandlers(deps: IdentityDeps, unlock: Unlock) {
  return defineService(
    CredentialServiceService,
    {
      getActiveSigningCertificate: declared(E.getActiveSigningCertificate, async (r) => {
        const now = deps.now();
        // Usually the one the transfer's factor check has just read (ADR 0028).
        const active = deps.signingCertificates.take(r.userId, now) ?? (await repo.findActiveCertificate(deps.db, r.userId, now));
        if (!active) throw failWith<GetActiveSigningCertificateCode>()('SIGNING_CERTIFICATE_NOT_FOUND', 'no active signing certificate');
        return {
          certificate: Buffer.from(active.der).toString('base64'),
          issuerCertificate: Buffer.from(deps.signingCa.cert.rawData).toString('base64'),
        };
      }),
      unlockUser: declared(E.unlockUser, async (r) => {
        const { statusChanged } = await unlock.unlockUser(r.userId, r.reason);
        return { userStatus: UserStatus.ACTIVATED, statusChanged };
      }),
      async revokeCredentials(r) {
        return revokeCredentials(deps, r.userId);
      },
    },
    {
      getActiveSigningCertificate: {
        access: 'internal',
        callers: ['user'],
        errors: E.getActiveSigningCertificate,
        raises: raises<GetActiveSigningCertificateCode>(),
      },
      // FindByUserId's enum (FindBySessionToken's) has session codes the user service does not raise there.
      unlockUser: {
        access: 'internal',
        callers: ['user'],
        operator: ['support'],
        audit: { action: 'auth.unlock', target: (r) => `user:${r.userId}` },
        // An unlock is an unblock: an operator's waits for a second operator.
        approval: { required: () => true },
        errors: E.unlockUser,
        raises: raisesExcept<UnlockUserCode, 'SESSION_TOKEN_REQUIRED' | 'LOGIN_SESSION_EXPIRED'>(),
      },
      revokeCredentials: { access: 'internal', callers: ['user'], raises: raises() },
    },
  );
}

import {
  ChangePatternApiError,
  ChangePatternApiError_ErrorCode,
  ChangePinApiError,
  ChangePinApiError_ErrorCode,
  CredentialChangeServiceService,
  PrepareResetPinApiError,
  PrepareResetPinApiError_ErrorCode,
  PrepareReissueSigningCertificateApiError,
  PrepareReissueSigningCertificateApiError_ErrorCode,
  ReissueSigningCertificateApiError,
  ReissueSigningCertificateApiError_ErrorCode,
  ResetPinApiError,
  ResetPinApiError_ErrorCode,
  RevokeSessionApiError,
  RevokeSessionApiError_ErrorCode,
  SessionManagementServiceService,
  SigningCertificateServiceService,
  VerifyReissuedSigningCertificateApiError,
  VerifyReissuedSigningCertificateApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/credential';
import { apiErrorType, defineService, raises, type CallContext } from '@kfrm/server-kit';
import type { ChangeSecretCode, CredentialChange } from './credential-change';
import { declared, deviceMutation, deviceOf, raisesExcept, raisesNoneOf, session, sessionMutation, sessionOf } from './identity.handlers';
import type { PinReset, PrepareResetPinCode, ResetPinCode } from './pin-reset';
import type { ListSessionsCode, LogoutCode, RevokeSessionCode, SessionCaller, SessionManagement } from './session-management';
import type { PrepareReissueCode, ReissueCode, SigningReissue, VerifyReissuedCode } from './signing-reissue';

const E = {
  prepareReissue: apiErrorType(PrepareReissueSigningCertificateApiError, PrepareReissueSigningCertificateApiError_ErrorCode),
  reissue: apiErrorType(ReissueSigningCertificateApiError, ReissueSigningCertificateApiError_ErrorCode),
  verifyReissued: apiErrorType(VerifyReissuedSigningCertificateApiError, VerifyReissuedSigningCertificateApiError_ErrorCode),
  revokeSession: apiErrorType(RevokeSessionApiError, RevokeSessionApiError_ErrorCode),
  changePin: apiErrorType(ChangePinApiError, ChangePinApiError_ErrorCode),
  changePattern: apiErrorType(ChangePatternApiError, ChangePatternApiError_ErrorCode),
  prepareResetPin: apiErrorType(PrepareResetPinApiError, PrepareResetPinApiError_ErrorCode),
  resetPin: apiErrorType(ResetPinApiError, ResetPinApiError_ErrorCode),
};

function callerOf(ctx: CallContext): SessionCaller {
  const { userId, deviceId } = sessionOf(ctx);
  const sessionToken = ctx.principal.session?.sessionToken;
  if (!sessionToken) throw new Error('session-level method called without a session token');
  return { userId, deviceId, sessionToken };
}

function certificateOf(ctx: CallContext): Uint8Array {
  const der = ctx.principal.device?.certificateDer;
  if (!der) throw new Error('device-level method called without a device certificate');
  return der;
}

export function signingCertificateHandlers(reissue: SigningReissue) {
  return defineService(
    SigningCertificateServiceService,
    {
      prepareReissueSigningCertificate: declared(E.prepareReissue, async (_r, ctx) => {
        const caller = sessionOf(ctx);
        return { process: await reissue.prepare(caller.userId, caller.deviceId) };
      }),
      reissueSigningCertificate: declared(E.reissue, async (r, ctx) => {
        const caller = sessionOf(ctx);
        const issued = await reissue.reissue({
          userId: caller.userId,
          deviceId: caller.deviceId,
          certificateDer: certificateOf(ctx),
          processId: r.processId,
          csr: r.csr,
          deviceSignature: r.deviceSignature,
        });
        return { certificate: issued.certificate, verificationToken: issued.verificationToken, createdAt: issued.createdAt.toISOString() };
      }),
      verifyReissuedSigningCertificate: declared(E.verifyReissued, async (r, ctx) => {
        await reissue.verify(sessionOf(ctx).userId, r.signedData);
        return {};
      }),
    },
    {
      prepareReissueSigningCertificate: sessionMutation(E.prepareReissue, raisesExcept<PrepareReissueCode>()),
      reissueSigningCertificate: sessionMutation(E.reissue, raisesExcept<ReissueCode>()),
      verifyReissuedSigningCertificate: sessionMutation(E.verifyReissued, raisesExcept<VerifyReissuedCode>()),
    },
  );
}

export function sessionManagementHandlers(sessions: SessionManagement) {
  return defineService(
    SessionManagementServiceService,
    {
      logout: declared(undefined, async (_r, ctx) => (await sessions.logout(callerOf(ctx)), {})),
      listSessions: declared(undefined, async (_r, ctx) => ({ sessions: await sessions.list(callerOf(ctx)) })),
      revokeSession: declared(E.revokeSession, async (r, ctx) => (await sessions.revoke(callerOf(ctx), r.sessionId), {})),
    },
    {
      logout: sessionMutation(undefined, raises<LogoutCode>()),
      // The caller's own session ending while the list is made answers PERMISSION_DENIED.
      listSessions: session(undefined, raisesNoneOf<ListSessionsCode>()),
      revokeSession: sessionMutation(E.revokeSession, raises<RevokeSessionCode>()),
    },
  );
}

export function credentialChangeHandlers(change: CredentialChange, reset: PinReset) {
  return defineService(
    CredentialChangeServiceService,
    {
      changePin: declared(E.changePin, async (r, ctx) => (await change.change('pin', callerOf(ctx), r.oldPin, r.newPin), {})),
      changePattern: declared(
        E.changePattern,
        async (r, ctx) => (await change.change('pattern', callerOf(ctx), r.oldPattern, r.newPattern), {}),
      ),
      prepareResetPin: declared(E.prepareResetPin, async (r, ctx) => ({ challenge: await reset.prepare(r.userToken, deviceOf(ctx)) })),
      resetPin: declared(E.resetPin, async (r, ctx) => {
        await reset.reset({
          userToken: r.userToken,
          deviceId: deviceOf(ctx),
          certificateDer: certificateOf(ctx),
          challenge: r.challenge,
          deviceSignature: r.deviceSignature,
          claim: { idpType: r.idpType, idpName: r.idpName, name: r.name, phoneNumber: r.phoneNumber, verificationHint: r.verificationHint },
          newPin: r.newPin,
        });
        return {};
      }),
    },
    {
      // LOGIN_SESSION_EXPIRED: the session ended during the change (answered PERMISSION_DENIED).
      changePin: sessionMutation(E.changePin, raisesExcept<ChangeSecretCode<'pin'>, 'LOGIN_SESSION_EXPIRED'>()),
      changePattern: sessionMutation(E.changePattern, raisesExcept<ChangeSecretCode<'pattern'>, 'LOGIN_SESSION_EXPIRED'>()),
      prepareResetPin: deviceMutation(E.prepareResetPin, raisesExcept<PrepareResetPinCode>()),
      // USER_STATUS_CONFLICT: the customer's status changed during the reset (answered PERMISSION_DENIED).
      resetPin: deviceMutation(E.resetPin, raisesExcept<ResetPinCode, 'USER_STATUS_CONFLICT' | 'USER_NOT_FOUND'>()),
    },
  );
}

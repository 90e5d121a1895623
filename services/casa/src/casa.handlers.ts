import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import {
  AgreeTermsApiError,
  AgreeTermsApiError_ErrorCode,
  CasaOpeningServiceService,
  CompleteOpeningApiError,
  CompleteOpeningApiError_ErrorCode,
  InitiateOpeningApiError,
  InitiateOpeningApiError_ErrorCode,
  UserStatus,
} from '@kfrm/proto/gen/kfrm/api/casa/casa';
import { apiErrorType, defineService, raises, unauthenticated, type CallContext } from '@kfrm/server-kit';
import type { AgreeTermsCode, Casa, CompleteOpeningCode, InitiateOpeningCode, OpeningStatus } from './casa';

const USER_STATUS: Record<OpeningStatus, UserStatus> = {
  NONE: UserStatus.NONE,
  WAIT_FOR_CIF: UserStatus.WAIT_FOR_CIF,
  WAIT_FOR_KYC: UserStatus.WAIT_FOR_KYC,
  OK: UserStatus.OK,
};

/** The caller on a 'session' method; the guard has checked it. Every method acts on this user only. */
function sessionUser(ctx: CallContext): string {
  const userId = ctx.principal.session?.userId;
  if (!userId) throw unauthenticated();
  return userId;
}

/** The app's CasaOpeningService: protobuf ⇄ use cases only. */
export function casaHandlers(casa: Casa) {
  return defineService(
    CasaOpeningServiceService,
    {
      async initiateOpening(_request, ctx) {
        return { userStatus: USER_STATUS[await casa.initiateOpening(sessionUser(ctx))] };
      },
      async listTerms(_request, ctx) {
        sessionUser(ctx);
        const terms = await casa.listTerms();
        return { terms: terms.map((t) => ({ id: t.id, name: t.name, url: t.url, description: t.description, mandatory: t.mandatory })) };
      },
      async agreeTerms(request, ctx) {
        await casa.agreeTerms(
          sessionUser(ctx),
          request.agreements.map((a) => ({ termId: a.termId, agreed: a.agreed })),
        );
        return { success: true };
      },
      async completeOpening(request, ctx) {
        const opened = await casa.completeOpening(sessionUser(ctx), request.password);
        return {
          success: true,
          account: {
            accountNumber: opened.accountNumber,
            // The app shows one limit: the per-transaction one (the daily one is in the README).
            transferLimit: { currencyCode: CurrencyCode.KRW, majorAmount: opened.limit.perTransactionKrw, minorAmount: 0n },
          },
        };
      },
    },
    {
      initiateOpening: {
        access: 'session',
        idempotent: true,
        errors: apiErrorType(InitiateOpeningApiError, InitiateOpeningApiError_ErrorCode),
        raises: raises<InitiateOpeningCode>(),
      },
      listTerms: { access: 'session', raises: raises() },
      agreeTerms: {
        access: 'session',
        idempotent: true,
        errors: apiErrorType(AgreeTermsApiError, AgreeTermsApiError_ErrorCode),
        raises: raises<AgreeTermsCode>(),
      },
      completeOpening: {
        access: 'session',
        idempotent: true,
        errors: apiErrorType(CompleteOpeningApiError, CompleteOpeningApiError_ErrorCode),
        raises: raises<CompleteOpeningCode>(),
      },
    },
  );
}

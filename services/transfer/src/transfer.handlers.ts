import { DomainError } from '@kfrm/errors';
import { CurrencyCode, type MonetaryValue } from '@kfrm/proto/gen/kfrm/api/common/common';
import {
  ExecuteApiError,
  ExecuteApiError_ErrorCode,
  GetPreCheckApiError,
  GetPreCheckApiError_ErrorCode,
  GetTargetAccountInfoApiError,
  GetTargetAccountInfoApiError_ErrorCode,
  TransferLimitApiError,
  TransferLimitApiError_ErrorCode,
  TransferServiceService,
} from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { apiErrorType, defineService, raises, type CallContext } from '@kfrm/server-kit';
import { krwAmount } from './canonical';
import { iconUrl, type InstitutionEntry } from './institutions';
import type { ExecuteCode, PreCheckCode, SourceAccountCode, TargetAccountCode, TransferLimitCode, Transfers } from './transfers';

function sessionUser(ctx: CallContext): string {
  const userId = ctx.principal.session?.userId;
  // The guard guarantees a session at this level; without one nothing is anyone's.
  if (!userId) throw new DomainError('UNAUTHENTICATED_USER', 'client certificate or session is not valid');
  return userId;
}

const wireCurrency = (v: MonetaryValue | undefined) =>
  v === undefined
    ? undefined
    : {
        currencyCode: v.currencyCode === CurrencyCode.KRW ? ('KRW' as const) : ('OTHER' as const),
        majorAmount: v.majorAmount,
        minorAmount: v.minorAmount,
      };

const krw = (amount: bigint): MonetaryValue => ({ currencyCode: CurrencyCode.KRW, majorAmount: amount, minorAmount: 0n });
const krwOrAbsent = (amount: bigint | null): MonetaryValue | undefined => (amount === null ? undefined : krw(amount));

/** A limit as the app sent it: whole KRW above zero, else undefined (the domain answers INVALID_TRANSFER_LIMIT). */
function limitFromWire(value: MonetaryValue | undefined): bigint | undefined {
  try {
    return krwAmount(wireCurrency(value));
  } catch {
    return undefined;
  }
}

/** The app's TransferService: protobuf ⇄ domain only. */
export function transferHandlers(transfers: Transfers, options: { iconBaseUrl: string }) {
  const institution = (i: InstitutionEntry) => ({ code: i.code, name: i.name, iconUrl: iconUrl(options.iconBaseUrl, i.code) });
  const preCheckErrors = apiErrorType(GetPreCheckApiError, GetPreCheckApiError_ErrorCode);
  const limitErrors = apiErrorType(TransferLimitApiError, TransferLimitApiError_ErrorCode);
  return defineService(
    TransferServiceService,
    {
      async getSourceAccountInfo(request, ctx) {
        const account = await transfers.getSourceAccountInfo(sessionUser(ctx), request.accountNumber);
        return { accountNumber: account.accountNumber, accountName: account.name, balance: krw(account.balanceMinor) };
      },
      async listLatestTargets(_request, ctx) {
        const targets = await transfers.listLatestTargets(sessionUser(ctx));
        return {
          targets: targets.map((t) => ({
            accountNumber: t.accountNumber,
            accountName: t.holderName,
            institution: institution(t.institution),
          })),
        };
      },
      async listTargetInstitutions() {
        return { institutions: transfers.listInstitutions().map(institution) };
      },
      async getTargetAccountInfo(request, ctx) {
        sessionUser(ctx);
        const target = await transfers.getTargetAccountInfo(request.institutionCode, request.accountNumber);
        return { accountNumber: target.accountNumber, accountName: target.holderName };
      },
      async getPreCheck(request, ctx) {
        const { process } = await transfers.preCheck(sessionUser(ctx), {
          sourceAccountNumber: request.sourceAccountNumber,
          targetAccountNumber: request.targetAccountNumber,
          targetInstitutionCode: request.targetInstitutionCode,
          amountMinor: krwAmount(wireCurrency(request.amount)),
          recipientVisibleMessage: request.recipientVisibleMessage,
          selfVisibleMessage: request.selfVisibleMessage,
        });
        return { success: true, process };
      },
      async execute(request, ctx) {
        const userId = sessionUser(ctx);
        const sig = request.signatureInfo;
        let amountMinor: bigint | undefined;
        try {
          amountMinor = sig ? krwAmount(wireCurrency(sig.amount)) : undefined;
        } catch {
          // Not a valid amount, so not the amount of any transfer: refused like any mismatch.
          amountMinor = undefined;
        }
        await transfers.execute(userId, {
          processId: request.authenticationProcessId,
          recipientVisibleMessage: request.recipientVisibleMessage,
          selfVisibleMessage: request.selfVisibleMessage,
          signature: sig
            ? {
                signedData: sig.signedData,
                sourceAccountNumber: sig.sourceAccountNumber,
                targetAccountNumber: sig.targetAccountNumber,
                targetInstitutionCode: sig.targetInstitutionCode,
                amountMinor,
              }
            : undefined,
        });
        return { success: true };
      },
      async getTransferLimit(request, ctx) {
        const view = await transfers.getTransferLimit(sessionUser(ctx), request.accountNumber);
        return {
          accountNumber: view.accountNumber,
          limitPerTransaction: krwOrAbsent(view.perTransactionMinor),
          limitPerDay: krwOrAbsent(view.perDayMinor),
          sentToday: krw(view.sentTodayMinor),
          remainingToday: krwOrAbsent(view.remainingTodayMinor),
          maxLimitPerTransaction: krw(view.maxima.perTransactionMinor),
          maxLimitPerDay: krw(view.maxima.perDayMinor),
        };
      },
      async prepareChangeTransferLimit(request, ctx) {
        const prepared = await transfers.prepareTransferLimitChange(sessionUser(ctx), {
          accountNumber: request.accountNumber,
          perTransactionMinor: limitFromWire(request.limitPerTransaction),
          perDayMinor: limitFromWire(request.limitPerDay),
        });
        return { stepUpRequired: prepared.stepUpRequired, process: prepared.process };
      },
      async changeTransferLimit(request, ctx) {
        const changed = await transfers.changeTransferLimit(sessionUser(ctx), {
          accountNumber: request.accountNumber,
          perTransactionMinor: limitFromWire(request.limitPerTransaction),
          perDayMinor: limitFromWire(request.limitPerDay),
          processId: request.authenticationProcessId,
        });
        return { success: true, limitPerTransaction: krw(changed.perTransactionMinor), limitPerDay: krw(changed.perDayMinor) };
      },
    },
    {
      // The seed gives GetSourceAccountInfo no error enum; INVALID_SOURCE_ACCOUNT travels as
      // GetPreCheckApiError's (the same code the app handles for the same account in GetPreCheck).
      // `raises`: what the use cases each handler calls can throw (plus sessionUser's common
      // UNAUTHENTICATED_USER), checked against the method's enum at compile time.
      getSourceAccountInfo: { access: 'session', errors: preCheckErrors, raises: raises<SourceAccountCode>() },
      listLatestTargets: { access: 'session', raises: raises() },
      listTargetInstitutions: { access: 'session', raises: raises() },
      getTargetAccountInfo: {
        access: 'session',
        errors: apiErrorType(GetTargetAccountInfoApiError, GetTargetAccountInfoApiError_ErrorCode),
        raises: raises<TargetAccountCode>(),
      },
      getPreCheck: { access: 'session', idempotent: true, errors: preCheckErrors, raises: raises<PreCheckCode>() },
      execute: {
        access: 'session',
        idempotent: true,
        errors: apiErrorType(ExecuteApiError, ExecuteApiError_ErrorCode),
        raises: raises<ExecuteCode>(),
      },
      getTransferLimit: { access: 'session', errors: limitErrors, raises: raises<TransferLimitCode>() },
      prepareChangeTransferLimit: { access: 'session', idempotent: true, errors: limitErrors, raises: raises<TransferLimitCode>() },
      changeTransferLimit: { access: 'session', idempotent: true, errors: limitErrors, raises: raises<TransferLimitCode>() },
    },
  );
}

import { maskAccountNumber } from '@kfrm/logging';
import {
  ArsVerificationState as ProtoArsVerificationState,
  GetArsVerificationApiError,
  GetArsVerificationApiError_ErrorCode,
  StartArsVerificationApiError,
  StartArsVerificationApiError_ErrorCode,
  type ArsVerification,
  ConfirmAutoDebitConsentApiError,
  ConfirmAutoDebitConsentApiError_ErrorCode,
  ConsentState as ProtoConsentState,
  FundingServiceService,
  GetAutoDebitConsentApiError,
  GetAutoDebitConsentApiError_ErrorCode,
  LinkedAccountState as ProtoLinkedAccountState,
  ListRegisteredAccountsApiError,
  ListRegisteredAccountsApiError_ErrorCode,
  RegisterAutoTopUpAccountApiError,
  RegisterAutoTopUpAccountApiError_ErrorCode,
  RequestAutoDebitConsentApiError,
  RequestAutoDebitConsentApiError_ErrorCode,
  VerifyAccountHolderApiError,
  VerifyAccountHolderApiError_ErrorCode,
  MoneyMovementState as ProtoMoneyMovementState,
  TopUpApiError,
  TopUpApiError_ErrorCode,
  WithdrawApiError,
  WithdrawApiError_ErrorCode,
  type AutoDebitConsent,
  type MoneyMovement,
  type BankAccount,
  type LinkedAccount,
} from '@kfrm/proto/gen/kfrm/api/funding/funding';
import type { RegisteredBankAccount } from '@kfrm/konaplate';
import { apiErrorType, defineService, raises, unauthenticated, type CallContext } from '@kfrm/server-kit';
import type { VerifyAccountHolderCode } from './account-holder';
import type { GetArsVerificationCode, StartArsVerificationCode } from './ars-verification';
import type { ArsVerificationRow } from './ars-verification.repository';
import type { RegisterAutoTopUpAccountCode } from './auto-top-up';
import type { ConfirmAutoDebitConsentCode } from './consent-confirm';
import type { RequestAutoDebitConsentCode } from './consent-request';
import type { GetAutoDebitConsentCode } from './consent-status';
import type { ConsentRow, Funding, LinkedAccountRow } from './funding';
import type { ArsVerificationState, ConsentState } from './funding.table';
import type { ListRegisteredAccountsCode } from './registered-accounts';
import type { MoneyMovementInput, MoneyMovementRow } from './funding';
import type { AutoTopUpCode, TopUpCode, WithdrawCode } from './money-movement';
import {
  AutoTopUpApiError,
  AutoTopUpApiError_ErrorCode,
  FundingInternalServiceService,
} from '@kfrm/proto/gen/kfrm/api/funding/funding_internal';
import { CurrencyCode, type MonetaryValue } from '@kfrm/proto/gen/kfrm/api/common/common';

const CONSENT_STATES: Record<ConsentState, ProtoConsentState> = {
  REQUESTING: ProtoConsentState.REQUESTING,
  REQUESTED: ProtoConsentState.REQUESTED,
  SIGNED: ProtoConsentState.SIGNED,
  VERIFYING: ProtoConsentState.VERIFYING,
  VERIFIED: ProtoConsentState.VERIFIED,
  EXPIRED: ProtoConsentState.EXPIRED,
  REQUEST_FAILED: ProtoConsentState.REQUEST_FAILED,
  VERIFY_UNKNOWN: ProtoConsentState.VERIFY_UNKNOWN,
  EVIDENCE_LOST: ProtoConsentState.EVIDENCE_LOST,
  EVIDENCE_INVALID: ProtoConsentState.EVIDENCE_INVALID,
};

const ARS_STATES: Record<ArsVerificationState, ProtoArsVerificationState> = {
  ISSUING: ProtoArsVerificationState.ARS_ISSUING,
  CODE_ISSUED: ProtoArsVerificationState.ARS_CODE_ISSUED,
  CALLING: ProtoArsVerificationState.ARS_CALLING,
  REGISTERED: ProtoArsVerificationState.ARS_REGISTERED,
  FAILED: ProtoArsVerificationState.ARS_FAILED,
  EXPIRED: ProtoArsVerificationState.ARS_EXPIRED,
};

const iso = (date: Date | null | undefined) => date?.toISOString() ?? '';

function bankAccount(bankCode: string, bankName: string, accountNumber: string): BankAccount {
  return { bankCode, bankName, maskedAccountNumber: maskAccountNumber(accountNumber) };
}

function registered(account: RegisteredBankAccount | undefined): BankAccount | undefined {
  return account && bankAccount(account.bankCode, account.bankName, account.bankAccount);
}

export function toLinkedAccount(row: LinkedAccountRow): LinkedAccount {
  return {
    linkedAccountId: row.id,
    account: bankAccount(row.bankCode, row.bankName, row.accountNumber),
    state: row.state === 'LINKED' ? ProtoLinkedAccountState.LINKED : ProtoLinkedAccountState.HOLDER_VERIFIED,
    holderVerifiedAt: iso(row.holderVerifiedAt),
    linkedAt: iso(row.linkedAt),
    autoTopUp: row.autoTopUpRegisteredAt !== null,
    autoTopUpRegisteredAt: iso(row.autoTopUpRegisteredAt),
    arsVerifiedAt: iso(row.arsVerifiedAt),
  };
}

export function toArsVerification(row: ArsVerificationRow): ArsVerification {
  // The code matters only while it can still be keyed in.
  const codeUseful = row.state === 'CODE_ISSUED' || row.state === 'CALLING';
  return {
    arsVerificationId: row.id,
    linkedAccountId: row.linkedAccountId,
    state: ARS_STATES[row.state],
    authCode: codeUseful ? (row.authCode ?? '') : '',
    expiresAt: iso(row.codeExpiresAt),
    failureReason: row.state === 'FAILED' ? (row.failure ?? '') : '',
  };
}

export function toConsent(row: ConsentRow): AutoDebitConsent {
  return {
    consentId: row.id,
    linkedAccountId: row.linkedAccountId,
    state: CONSENT_STATES[row.state],
    expiresAt: iso(row.expiresAt),
    signedAt: iso(row.signedAt),
    verifiedAt: iso(row.verifiedAt),
  };
}

export function toMoneyMovement(row: MoneyMovementRow): MoneyMovement {
  return {
    movementId: row.id,
    externalTransactionId: row.externalTransactionId,
    linkedAccountId: row.linkedAccountId,
    accountNumber: row.accountNumber,
    amount: { currencyCode: CurrencyCode.KRW, majorAmount: row.amountMinor, minorAmount: 0n },
    state: row.state === 'SETTLED' ? ProtoMoneyMovementState.SETTLED : ProtoMoneyMovementState.PENDING,
    createdAt: iso(row.createdAt),
    settledAt: iso(row.settledAt),
  };
}

function movementInput(request: {
  linkedAccountId: bigint;
  accountNumber: string;
  amount?: MonetaryValue | undefined;
  externalTransactionId: string;
}): MoneyMovementInput {
  return {
    linkedAccountId: request.linkedAccountId,
    accountNumber: request.accountNumber,
    amount: {
      currency: request.amount?.currencyCode === CurrencyCode.KRW ? 'KRW' : 'OTHER',
      major: request.amount?.majorAmount ?? 0n,
      minor: request.amount?.minorAmount ?? 0n,
    },
    externalTransactionId: request.externalTransactionId,
  };
}

/** The caller on a 'session' method; the guard has checked it. */
function sessionUser(ctx: CallContext): string {
  const userId = ctx.principal.session?.userId;
  if (!userId) throw unauthenticated();
  return userId;
}

/** The app's FundingService: protobuf ⇄ use cases only. */
export function fundingHandlers(funding: Funding) {
  return defineService(
    FundingServiceService,
    {
      async verifyAccountHolder(request, ctx) {
        const account = await funding.verifyAccountHolder(sessionUser(ctx), request.bankCode, request.accountNumber);
        return { linkedAccount: toLinkedAccount(account) };
      },
      async listRegisteredAccounts(_request, ctx) {
        const accounts = await funding.listRegisteredAccounts(sessionUser(ctx));
        return {
          normalTopUpAccount: registered(accounts.normal),
          autoTopUpAccount: registered(accounts.auto),
          autoTopUpRegistrationAllowed: accounts.autoRegistrationAllowed,
          linkedAccounts: accounts.linked.map(toLinkedAccount),
        };
      },
      async startArsVerification(request, ctx) {
        const row = await funding.startArsVerification(sessionUser(ctx), request.bankCode, request.accountNumber);
        return { arsVerification: toArsVerification(row) };
      },
      async getArsVerification(request, ctx) {
        const { verification, account } = await funding.getArsVerification(sessionUser(ctx), request.arsVerificationId);
        return { arsVerification: toArsVerification(verification), linkedAccount: toLinkedAccount(account) };
      },
      async requestAutoDebitConsent(request, ctx) {
        const consent = await funding.requestAutoDebitConsent(
          sessionUser(ctx),
          request.bankCode,
          request.accountNumber,
          request.expiresInSeconds,
        );
        return { consent: toConsent(consent) };
      },
      async getAutoDebitConsent(request, ctx) {
        return { consent: toConsent(await funding.getAutoDebitConsent(sessionUser(ctx), request.consentId)) };
      },
      async confirmAutoDebitConsent(request, ctx) {
        const confirmed = await funding.confirmAutoDebitConsent(sessionUser(ctx), request.consentId);
        return { consent: toConsent(confirmed.consent), linkedAccount: toLinkedAccount(confirmed.account) };
      },
      async registerAutoTopUpAccount(request, ctx) {
        const account = await funding.registerAutoTopUpAccount(sessionUser(ctx), request.linkedAccountId);
        return { linkedAccount: toLinkedAccount(account) };
      },
      async topUp(request, ctx) {
        return { topUp: toMoneyMovement(await funding.topUp(sessionUser(ctx), movementInput(request))) };
      },
      async withdraw(request, ctx) {
        return { withdrawal: toMoneyMovement(await funding.withdraw(sessionUser(ctx), movementInput(request))) };
      },
    },
    {
      verifyAccountHolder: {
        access: 'session',
        idempotent: true,
        errors: apiErrorType(VerifyAccountHolderApiError, VerifyAccountHolderApiError_ErrorCode),
        raises: raises<VerifyAccountHolderCode>(),
      },
      listRegisteredAccounts: {
        access: 'session',
        errors: apiErrorType(ListRegisteredAccountsApiError, ListRegisteredAccountsApiError_ErrorCode),
        raises: raises<ListRegisteredAccountsCode>(),
      },
      startArsVerification: {
        access: 'session',
        idempotent: true,
        errors: apiErrorType(StartArsVerificationApiError, StartArsVerificationApiError_ErrorCode),
        raises: raises<StartArsVerificationCode>(),
      },
      getArsVerification: {
        access: 'session',
        errors: apiErrorType(GetArsVerificationApiError, GetArsVerificationApiError_ErrorCode),
        raises: raises<GetArsVerificationCode>(),
      },
      requestAutoDebitConsent: {
        access: 'session',
        idempotent: true,
        errors: apiErrorType(RequestAutoDebitConsentApiError, RequestAutoDebitConsentApiError_ErrorCode),
        raises: raises<RequestAutoDebitConsentCode>(),
      },
      getAutoDebitConsent: {
        access: 'session',
        errors: apiErrorType(GetAutoDebitConsentApiError, GetAutoDebitConsentApiError_ErrorCode),
        raises: raises<GetAutoDebitConsentCode>(),
      },
      confirmAutoDebitConsent: {
        access: 'session',
        idempotent: true,
        errors: apiErrorType(ConfirmAutoDebitConsentApiError, ConfirmAutoDebitConsentApiError_ErrorCode),
        raises: raises<ConfirmAutoDebitConsentCode>(),
      },
      registerAutoTopUpAccount: {
        access: 'session',
        idempotent: true,
        errors: apiErrorType(RegisterAutoTopUpAccountApiError, RegisterAutoTopUpAccountApiError_ErrorCode),
        raises: raises<RegisterAutoTopUpAccountCode>(),
      },
      topUp: {
        access: 'session',
        idempotent: true,
        errors: apiErrorType(TopUpApiError, TopUpApiError_ErrorCode),
        raises: raises<TopUpCode>(),
      },
      withdraw: {
        access: 'session',
        idempotent: true,
        errors: apiErrorType(WithdrawApiError, WithdrawApiError_ErrorCode),
        raises: raises<WithdrawCode>(),
      },
    },
  );
}

/** FundingInternalService (internal listener): automatic top-up for transfers. */
export function fundingInternalHandlers(funding: Funding) {
  return defineService(
    FundingInternalServiceService,
    {
      async getAutoTopUpAllowance(request) {
        const allowance = await funding.autoTopUpAllowance(request.userId);
        return {
          registered: allowance.registered,
          remainingToday: { currencyCode: CurrencyCode.KRW, majorAmount: allowance.remainingTodayMinor, minorAmount: 0n },
        };
      },
      async autoTopUp(request) {
        const { amount } = movementInput({ ...request, linkedAccountId: 0n, externalTransactionId: request.idempotencyKey });
        const row = await funding.autoTopUp(request.userId, request.accountNumber, amount, request.idempotencyKey);
        return { topUp: toMoneyMovement(row) };
      },
    },
    {
      getAutoTopUpAllowance: { access: 'internal', callers: ['transfer'] },
      autoTopUp: {
        access: 'internal',
        callers: ['transfer'],
        errors: apiErrorType(AutoTopUpApiError, AutoTopUpApiError_ErrorCode),
        raises: raises<AutoTopUpCode>(),
      },
    },
  );
}

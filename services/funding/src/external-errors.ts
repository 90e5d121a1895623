/**
 * The one place where adapter errors become the funding contract's error codes. Each method
 * declares the codes it may answer; a code a method does not declare falls back to
 * EXTERNAL_SERVICE_FAILED (every method has it), so nothing reaches the app as INTERNAL without
 * a code. Messages are ours and safe to show; the adapter error is the cause (logged, masked).
 */
import { DomainError, type SeedCode } from '@kfrm/errors';
import {
  KakaocertError,
  KakaocertTransportError,
  KakaocertValidationError,
  OutcomeUnknownError as KakaocertOutcomeUnknownError,
} from '@kfrm/kakaocert';
import { KonaplateError, KonaplateValidationError } from '@kfrm/konaplate';

export type FundingErrorCode =
  | 'ACCOUNT_HOLDER_MISMATCH'
  | 'INVALID_BANK_ACCOUNT'
  | 'BANK_ACCOUNT_NOT_FOUND'
  | 'BANK_ACCOUNT_NOT_USABLE'
  | 'BANK_NOT_SUPPORTED'
  | 'BANK_UNAVAILABLE'
  | 'USER_PROFILE_INCOMPLETE'
  | 'OUTCOME_UNKNOWN'
  | 'EXTERNAL_SERVICE_UNAVAILABLE'
  | 'EXTERNAL_SERVICE_FAILED'
  | 'CONSENT_REQUEST_REFUSED';

const MESSAGES: Record<FundingErrorCode, string> = {
  ACCOUNT_HOLDER_MISMATCH: "The account holder's name or birth date does not match the user.",
  INVALID_BANK_ACCOUNT: 'The bank code or account number is not valid.',
  BANK_ACCOUNT_NOT_FOUND: 'The bank account was not found.',
  BANK_ACCOUNT_NOT_USABLE: 'The bank account cannot be used for this.',
  BANK_NOT_SUPPORTED: 'The bank does not take part in this service.',
  BANK_UNAVAILABLE: 'The bank cannot be reached now; try again later.',
  USER_PROFILE_INCOMPLETE: "The user's record lacks what this check needs.",
  OUTCOME_UNKNOWN: 'The outcome is not known yet; check again.',
  EXTERNAL_SERVICE_UNAVAILABLE: 'An external service cannot be reached now; try again later.',
  EXTERNAL_SERVICE_FAILED: 'An external service failed to process the request.',
  CONSENT_REQUEST_REFUSED: 'The consent request was refused.',
};

export function fundingError<Code extends FundingErrorCode>(code: Code, cause?: unknown): DomainError<Code> {
  return new DomainError(code, MESSAGES[code], cause === undefined ? undefined : { cause });
}

/**
 * `fundingError` bound to one use case's codes (its `…Code` union), like `failWith`: each throw
 * is checked against the union, and the message stays the one of this table.
 */
export function fundingErrorsOf<Declared extends SeedCode>() {
  return (code: Extract<Declared, FundingErrorCode>, cause?: unknown) => fundingError(code, cause);
}

/**
 * The codes a use case lets an adapter failure become: a subset of its own union (`Declared`,
 * given explicitly). An adapter code outside the list becomes EXTERNAL_SERVICE_FAILED, so the
 * union must have that code; without it (or without the type argument) the list does not compile.
 */
export type AdapterCodes<Declared extends SeedCode> = 'EXTERNAL_SERVICE_FAILED' extends Declared
  ? readonly Extract<Declared, FundingErrorCode>[]
  : never;

function konaplateCode(err: KonaplateError): FundingErrorCode {
  if (err instanceof KonaplateValidationError) {
    // Only our own data can break the other rules (name, birth date, user id).
    return err.issues.some((i) => i.field === 'bankCode' || i.field === 'bankAccount') ? 'INVALID_BANK_ACCOUNT' : 'USER_PROFILE_INCOMPLETE';
  }
  switch (err.kind) {
    case 'invalid_account':
      return 'INVALID_BANK_ACCOUNT';
    case 'name_mismatch':
    case 'holder_not_found':
      return 'ACCOUNT_HOLDER_MISMATCH';
    case 'account_not_found':
      return 'BANK_ACCOUNT_NOT_FOUND';
    case 'account_not_usable':
      return 'BANK_ACCOUNT_NOT_USABLE';
    case 'bank_unavailable':
      return 'BANK_UNAVAILABLE';
    case 'outcome_unknown':
      return 'OUTCOME_UNKNOWN';
    case 'network':
    case 'server_error':
      return 'EXTERNAL_SERVICE_UNAVAILABLE';
    default:
      // invalid_request, unauthorized, protocol, unknown_code: our request or our credentials.
      return 'EXTERNAL_SERVICE_FAILED';
  }
}

/** A Konaplate failure as the method's error; `allowed` are the codes the method declares. */
export function fromKonaplate<Declared extends SeedCode = never>(err: unknown, allowed: NoInfer<AdapterCodes<Declared>>): unknown {
  if (!(err instanceof KonaplateError)) return err;
  const code = konaplateCode(err);
  return fundingError((allowed as readonly FundingErrorCode[]).includes(code) ? code : 'EXTERNAL_SERVICE_FAILED', err);
}

/** A kakaoCert failure outside VerifyCMS (which the consent use case handles itself). */
export function fromKakaocert<Declared extends SeedCode = never>(err: unknown, allowed: NoInfer<AdapterCodes<Declared>>): unknown {
  let code: FundingErrorCode;
  if (err instanceof KakaocertValidationError) {
    code =
      err.field === 'BankCode' || err.field === 'BankAccountNum'
        ? 'INVALID_BANK_ACCOUNT'
        : err.field.startsWith('Receiver')
          ? 'USER_PROFILE_INCOMPLETE'
          : 'EXTERNAL_SERVICE_FAILED';
  } else if (err instanceof KakaocertOutcomeUnknownError) {
    code = 'OUTCOME_UNKNOWN';
  } else if (err instanceof KakaocertTransportError) {
    code = err.kind === 'bad_response' ? 'EXTERNAL_SERVICE_FAILED' : 'EXTERNAL_SERVICE_UNAVAILABLE';
  } else if (err instanceof KakaocertError) {
    // 401/403: our credentials; 5xx: kakaoCert failed; other definite answers refuse the request.
    const httpStatus = err.httpStatus ?? 400;
    code =
      httpStatus === 401 || httpStatus === 403
        ? 'EXTERNAL_SERVICE_FAILED'
        : httpStatus >= 500
          ? 'EXTERNAL_SERVICE_UNAVAILABLE'
          : 'CONSENT_REQUEST_REFUSED';
  } else {
    return err;
  }
  return fundingError((allowed as readonly FundingErrorCode[]).includes(code) ? code : 'EXTERNAL_SERVICE_FAILED', err);
}

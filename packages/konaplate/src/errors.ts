/**
 * Typed errors of the Konaplate client. Every error is a `KonaplateError` with the result code
 * (or a local code such as `CLIENT_VALIDATION`), a `kind` to branch on, and a message written
 * by us, safe to show: the server's own description is kept apart in `serverDescription`, and
 * no field value (name, account, birth date) ever goes into a message.
 */
import { isKnownResultCode, RESULT_CODES, type KonaplateErrorKind, type KonaplateResultCode } from './result-codes';

export type KonaplateOperation =
  | 'verifyAccountHolder'
  | 'inquireBankAccounts'
  | 'registerMember'
  | 'charge'
  | 'withdraw'
  | 'inquireTransaction'
  | 'listTransactions'
  | 'issueArsCode'
  | 'registerBankAccount'
  | 'inquireAccountRegistration';

/** Local codes for failures that have no Konaplate result code. */
export type KonaplateLocalCode = 'CLIENT_VALIDATION' | 'HTTP_STATUS' | 'NETWORK' | 'OUTCOME_UNKNOWN' | 'PROTOCOL';

export interface KonaplateErrorDetails {
  operation?: KonaplateOperation;
  httpStatus?: number;
  correlationId?: string;
  /** The response's description, for logs (truncated; never shown to users). */
  serverDescription?: string;
  cause?: unknown;
}

export class KonaplateError extends Error {
  readonly operation?: KonaplateOperation;
  readonly httpStatus?: number;
  readonly correlationId?: string;
  readonly serverDescription?: string;

  constructor(
    /** The result code (`002_003`) or a local code (`NETWORK`). */
    readonly code: KonaplateResultCode | KonaplateLocalCode | (string & {}),
    readonly kind: KonaplateErrorKind,
    message: string,
    details: KonaplateErrorDetails = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    // Not enumerable, as on Error itself: a log record lists the error's data, not its name
    // (the shared logger would mask a `name` field as if it were a person's name).
    Object.defineProperty(this, 'name', { value: new.target.name, enumerable: false, configurable: true, writable: true });
    this.operation = details.operation;
    this.httpStatus = details.httpStatus;
    this.correlationId = details.correlationId;
    this.serverDescription = details.serverDescription?.slice(0, 200);
  }

  /** Whether the same request may succeed later without changing it (bank hours, outages). */
  get retryLater(): boolean {
    return this.kind === 'bank_unavailable' || this.kind === 'server_error' || this.kind === 'network';
  }
}

export interface ValidationIssue {
  field: string;
  /** What rule was broken, without the value. */
  rule: string;
}

/** The request broke a documented rule; it was never sent. */
export class KonaplateValidationError extends KonaplateError {
  constructor(
    readonly issues: readonly ValidationIssue[],
    operation?: KonaplateOperation,
  ) {
    super('CLIENT_VALIDATION', 'invalid_request', `Invalid request: ${issues.map((issue) => `${issue.field} ${issue.rule}`).join('; ')}`, {
      operation,
    });
  }
}

/** 000_002, 000_003: Konaplate refused the input. */
export class KonaplateInvalidRequestError extends KonaplateError {}
/** 002_001 */
export class KonaplateInvalidAccountError extends KonaplateError {}
/** 002_003 */
export class KonaplateNameMismatchError extends KonaplateError {}
/** 002_005 */
export class KonaplateHolderNotFoundError extends KonaplateError {}
/** 002_007 */
export class KonaplateAccountNotFoundError extends KonaplateError {}
/** 002_008, 002_009 */
export class KonaplateAccountNotUsableError extends KonaplateError {}
/** 002_002, 002_004, 002_006: try again later. */
export class KonaplateBankUnavailableError extends KonaplateError {}
/** HTTP 401/403 (no documented result code): access key, HMAC, time or key id refused. */
export class KonaplateAuthError extends KonaplateError {}
/** HTTP 5xx or 429 without a result code (holder verification reports a 5xx as OutcomeUnknownError). */
export class KonaplateServerError extends KonaplateError {}
/** The request never reached the server; safe to retry. */
export class KonaplateNetworkError extends KonaplateError {}
/** The response was not a Konaplate response we can read. */
export class KonaplateProtocolError extends KonaplateError {}
/** A result code missing from RESULT_CODES. */
export class KonaplateUnknownCodeError extends KonaplateError {}

/**
 * The request may have reached Konaplate and been processed, but no answer arrived (timeout,
 * connection reset, a 5xx from a proxy). Not retried by the client: the caller reconciles
 * (docs/reliability.md item 9) using `correlationId`, the X-KM-Correlation-Id that was sent.
 */
export class OutcomeUnknownError extends KonaplateError {
  constructor(operation: KonaplateOperation, correlationId: string, details: Omit<KonaplateErrorDetails, 'operation' | 'correlationId'>) {
    super('OUTCOME_UNKNOWN', 'outcome_unknown', 'The outcome of the Konaplate request is unknown.', {
      ...details,
      operation,
      correlationId,
    });
  }
}

type ErrorClass = new (code: string, kind: KonaplateErrorKind, message: string, details?: KonaplateErrorDetails) => KonaplateError;

const CLASS_BY_KIND: Record<Exclude<KonaplateErrorKind, 'outcome_unknown'>, ErrorClass> = {
  invalid_request: KonaplateInvalidRequestError,
  invalid_account: KonaplateInvalidAccountError,
  name_mismatch: KonaplateNameMismatchError,
  holder_not_found: KonaplateHolderNotFoundError,
  account_not_found: KonaplateAccountNotFoundError,
  account_not_usable: KonaplateAccountNotUsableError,
  bank_unavailable: KonaplateBankUnavailableError,
  unauthorized: KonaplateAuthError,
  server_error: KonaplateServerError,
  network: KonaplateNetworkError,
  protocol: KonaplateProtocolError,
  unknown_code: KonaplateUnknownCodeError,
};

/** Safe messages, one per kind: what the caller may show or log. */
const SAFE_MESSAGE: Record<Exclude<KonaplateErrorKind, 'outcome_unknown'>, string> = {
  invalid_request: 'Konaplate refused the request as invalid.',
  invalid_account: 'The bank account number has an invalid length or characters.',
  name_mismatch: "The account holder's name does not match the member's name.",
  holder_not_found: "No bank account was found for the member's birth date.",
  account_not_found: 'The bank account was not found.',
  account_not_usable: 'The bank account cannot be used for this purpose.',
  bank_unavailable: 'The bank cannot be reached now; try again later.',
  unauthorized: 'Konaplate refused the request credentials.',
  server_error: 'Konaplate failed to process the request.',
  network: 'Konaplate could not be reached.',
  protocol: 'Konaplate sent a response that could not be read.',
  unknown_code: 'Konaplate answered with an unknown result code.',
};

/** The one mapping from a result code in a response to the error to throw. */
export function errorForResultCode(code: string, details: KonaplateErrorDetails): KonaplateError {
  if (details.httpStatus === 401 || details.httpStatus === 403) {
    return new KonaplateAuthError(code, 'unauthorized', SAFE_MESSAGE.unauthorized, details);
  }
  if (!isKnownResultCode(code)) {
    return new KonaplateUnknownCodeError(code, 'unknown_code', `${SAFE_MESSAGE.unknown_code} (${safeCode(code)})`, details);
  }
  const kind = RESULT_CODES[code].kind;
  if (kind === 'success') {
    // A success code on a non-2xx status contradicts itself: we cannot trust either part.
    return new KonaplateProtocolError(code, 'protocol', SAFE_MESSAGE.protocol, details);
  }
  return new CLASS_BY_KIND[kind](code, kind, SAFE_MESSAGE[kind], details);
}

export function errorOfKind(
  kind: Exclude<KonaplateErrorKind, 'outcome_unknown'>,
  code: KonaplateLocalCode | string,
  details: KonaplateErrorDetails,
): KonaplateError {
  return new CLASS_BY_KIND[kind](code, kind, SAFE_MESSAGE[kind], details);
}

function safeCode(code: string): string {
  return code.replace(/[^\w-]/g, '').slice(0, 16);
}

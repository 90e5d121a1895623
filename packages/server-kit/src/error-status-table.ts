import { status } from '@grpc/grpc-js';
import { ConcurrentUpdateError, DependencyUnavailableError, RateLimitedError, type SeedCode } from '@kfrm/errors';

/**
 * The one table from seed error codes to gRPC status codes. Keyed by the code's name, because
 * the same name means the same thing in every method's `…ApiError.ErrorCode` enum (for example
 * ALREADY_REGISTERED_USER in RegisterPin and ConfirmPin). A test checks that every code of every
 * ApiError message in the contract has a row here.
 */
export const ERROR_STATUS: Readonly<Record<string, status>> = {
  // CommonApiError
  UNKNOWN_ERROR: status.INTERNAL,
  UNAUTHENTICATED_USER: status.UNAUTHENTICATED,
  E2E_KEY_SESSION_EXPIRED: status.FAILED_PRECONDITION, // fetch a new key and retry
  E2E_DECRYPTION_FAILED: status.INVALID_ARGUMENT,
  DIGITAL_SIGNATURE_VERIFICATION_FAILED: status.PERMISSION_DENIED,

  // key, app version, device
  PROVIDER_NOT_FOUND: status.NOT_FOUND,
  APP_VERSION_NOT_FOUND: status.NOT_FOUND,
  DEVICE_CERTIFICATE_ISSUANCE_FAILED: status.INVALID_ARGUMENT, // the only cause we report is a bad key
  DEVICE_NOT_FOUND: status.NOT_FOUND, // internal DeviceRegistryService.RevokeDevice

  // registration
  ALREADY_REGISTERED_USER: status.ALREADY_EXISTS,
  USER_REGISTRATION_NOT_FOUND: status.NOT_FOUND,
  USER_REGISTRATION_EXPIRED: status.FAILED_PRECONDITION,
  USER_VERIFICATION_HINT_REQUIRED: status.INVALID_ARGUMENT,
  USER_VERIFICATION_FAILED: status.PERMISSION_DENIED,
  USER_DEVICE_UUID_REQUIRED: status.INVALID_ARGUMENT,
  INVALID_USER_PIN: status.INVALID_ARGUMENT,
  WEAK_USER_PIN: status.INVALID_ARGUMENT,
  USER_PIN_MISMATCH: status.INVALID_ARGUMENT,
  INVALID_USER_PATTERN: status.INVALID_ARGUMENT,
  WEAK_USER_PATTERN: status.INVALID_ARGUMENT,
  USER_PATTERN_MISMATCH: status.INVALID_ARGUMENT,
  INVALID_SIGNING_CSR: status.INVALID_ARGUMENT,
  SIGNING_CERTIFICATE_ISSUANCE_FAILED: status.FAILED_PRECONDITION,
  SIGNING_CERTIFICATE_NOT_FOUND: status.NOT_FOUND,
  SIGNING_CERTIFICATE_VERIFICATION_FAILED: status.PERMISSION_DENIED,

  // login, sessions, device change, processes
  AUTHENTICATION_FAILED: status.UNAUTHENTICATED,
  DEVICE_CHANGE_NOT_ALLOWED: status.FAILED_PRECONDITION,
  AUTHENTICATION_POLICY_NOT_FOUND: status.NOT_FOUND,
  AUTHENTICATION_PROCESS_NOT_FOUND: status.NOT_FOUND,
  EMPTY_AUTHENTICATION_PROCESS: status.FAILED_PRECONDITION,
  INVALID_LOGIN_SESSION: status.UNAUTHENTICATED,
  AUTHENTICATION_TYPE_NOT_DEFINED: status.FAILED_PRECONDITION,
  RUNNING_PROCESS_NOT_FOUND: status.FAILED_PRECONDITION,
  USER_BIOMETRIC_NOT_FOUND: status.NOT_FOUND,
  USER_BIOMETRIC_DISABLED: status.FAILED_PRECONDITION,
  USER_PATTERN_NOT_FOUND: status.NOT_FOUND,
  USER_PIN_NOT_FOUND: status.NOT_FOUND,
  // session management (kfrm/api/auth/credential.proto)
  SESSION_NOT_FOUND: status.NOT_FOUND,
  PIN_RESET_NOT_ALLOWED: status.FAILED_PRECONDITION,

  // internal UserService
  SESSION_TOKEN_REQUIRED: status.INVALID_ARGUMENT,
  LOGIN_SESSION_EXPIRED: status.UNAUTHENTICATED,
  USER_NOT_FOUND: status.NOT_FOUND,
  USER_STATUS_CONFLICT: status.FAILED_PRECONDITION,

  // accounts and transfers
  ACCOUNT_NOT_FOUND: status.NOT_FOUND,
  UNKNOWN: status.UNKNOWN,
  INSUFFICIENT_BALANCE: status.FAILED_PRECONDITION,
  INVALID_TARGET_ACCOUNT: status.INVALID_ARGUMENT,
  INVALID_TARGET_INSTITUTION: status.INVALID_ARGUMENT,
  INVALID_SOURCE_ACCOUNT: status.INVALID_ARGUMENT,
  IDEMPOTENCY_KEY_REUSED: status.ALREADY_EXISTS, // same idempotency key, another body (CommonApiError, Execute, LedgerService)
  TRANSFER_LIMIT_EXCEEDED: status.FAILED_PRECONDITION, // per-transaction or daily limit
  INVALID_VISIBLE_MESSAGE: status.INVALID_ARGUMENT, // GetPreCheck, Execute (extension): a memo too long or not showable
  INVALID_AMOUNT: status.INVALID_ARGUMENT, // zero, negative, fractional or beyond int64
  NOT_VALID_ACCOUNT: status.NOT_FOUND,
  BLOCKED_ACCOUNT: status.FAILED_PRECONDITION,
  CERTIFICATE_ISSUANCE_FAILURE: status.INTERNAL,
  // transfer limits (extension): view and change
  INVALID_TRANSFER_LIMIT: status.INVALID_ARGUMENT, // missing, zero, not whole KRW, per-transaction over per-day
  TRANSFER_LIMIT_ABOVE_MAXIMUM: status.FAILED_PRECONDITION, // over the bank's maximum
  STEP_UP_AUTHENTICATION_REQUIRED: status.PERMISSION_DENIED, // raising without its DONE process
  ACCOUNT_BALANCE_NOT_ZERO: status.FAILED_PRECONDITION, // CloseAccount (extension): money still in the account
  INVALID_ACCOUNT_NAME: status.INVALID_ARGUMENT, // UpdateAccount (extension)
  INVALID_ACCOUNT_COLOR: status.INVALID_ARGUMENT, // UpdateAccount (extension)
  NOTHING_TO_UPDATE: status.INVALID_ARGUMENT, // UpdateAccount (extension): no field set
  MEMBER_HAS_OPEN_ACCOUNTS: status.FAILED_PRECONDITION, // member withdrawal (extension): close every account first

  // funding (linked bank accounts: Konaplate, kakaoCert CMS)
  ACCOUNT_HOLDER_MISMATCH: status.FAILED_PRECONDITION,
  INVALID_BANK_ACCOUNT: status.INVALID_ARGUMENT,
  BANK_ACCOUNT_NOT_FOUND: status.NOT_FOUND,
  BANK_ACCOUNT_NOT_USABLE: status.FAILED_PRECONDITION,
  BANK_NOT_SUPPORTED: status.FAILED_PRECONDITION,
  BANK_UNAVAILABLE: status.UNAVAILABLE, // bank hours, maintenance: try later
  USER_PROFILE_INCOMPLETE: status.FAILED_PRECONDITION,
  OUTCOME_UNKNOWN: status.DEADLINE_EXCEEDED, // may have happened; the next call reconciles
  EXTERNAL_SERVICE_UNAVAILABLE: status.UNAVAILABLE,
  EXTERNAL_SERVICE_FAILED: status.INTERNAL, // refused credentials, unreadable answers: ours to fix
  ACCOUNT_HOLDER_NOT_VERIFIED: status.FAILED_PRECONDITION,
  ARS_VERIFICATION_REQUIRED: status.FAILED_PRECONDITION,
  ARS_VERIFICATION_NOT_FOUND: status.NOT_FOUND,
  CONSENT_REQUEST_REFUSED: status.FAILED_PRECONDITION,
  CONSENT_NOT_FOUND: status.NOT_FOUND,
  CONSENT_NOT_SIGNED: status.FAILED_PRECONDITION,
  CONSENT_EXPIRED: status.FAILED_PRECONDITION,
  CONSENT_REQUEST_FAILED: status.FAILED_PRECONDITION,
  CONSENT_VERIFICATION_IN_PROGRESS: status.ABORTED,
  CONSENT_EVIDENCE_LOST: status.FAILED_PRECONDITION,
  CONSENT_EVIDENCE_INVALID: status.FAILED_PRECONDITION,
  LINKED_ACCOUNT_NOT_FOUND: status.NOT_FOUND,
  ACCOUNT_NOT_LINKED: status.FAILED_PRECONDITION,
  AUTO_TOP_UP_NOT_ALLOWED: status.FAILED_PRECONDITION,
  // funding top-up and withdrawal (issue 15)
  INVALID_EXTERNAL_TRANSACTION_ID: status.INVALID_ARGUMENT,
  EXTERNAL_TRANSACTION_ID_REUSED: status.ALREADY_EXISTS, // same id, other fields
  TOP_UP_DAILY_LIMIT_EXCEEDED: status.FAILED_PRECONDITION,
  TOP_UP_REFUSED: status.FAILED_PRECONDITION, // the bank or Konaplate refused; nothing moved
  WITHDRAWAL_REFUSED: status.FAILED_PRECONDITION, // refused; the debit was reversed
  AUTO_TOP_UP_NOT_REGISTERED: status.FAILED_PRECONDITION, // internal FundingInternalService.AutoTopUp

  // CASA opening
  TERM_NOT_FOUND: status.NOT_FOUND,
  MANDATORY_TERMS_NOT_AGREED: status.FAILED_PRECONDITION,
  CASA_ALREADY_OPENED: status.ALREADY_EXISTS,
  CIF_NOT_FOUND: status.FAILED_PRECONDITION,
  KYC_NOT_VERIFIED: status.FAILED_PRECONDITION,
  INVALID_ACCOUNT_PASSWORD: status.INVALID_ARGUMENT,
  WEAK_ACCOUNT_PASSWORD: status.INVALID_ARGUMENT,
  CASA_OPENING_IN_PROGRESS: status.ABORTED, // another CompleteOpening of the same user is running

  // operator approvals (maker-checker, extension)
  APPROVAL_NOT_FOUND: status.NOT_FOUND,
  APPROVAL_NOT_PENDING: status.FAILED_PRECONDITION, // already approved, executed or rejected

  // the KYC reviewer's view (extension)
  KYC_DATA_NOT_FOUND: status.NOT_FOUND, // nothing submitted, or the member withdrew
} satisfies Record<SeedCode, status>; // every seed code has a row, and a row is a seed code

/**
 * Infrastructure errors that are not the caller's fault but are not bugs either, by base class
 * (@kfrm/errors): a package or service throws its own subclass (the store's, the database's, a
 * service's upstream outage) and needs no row here. Everything else unknown is INTERNAL.
 */
export const INFRASTRUCTURE_ERROR_STATUS: ReadonlyArray<{
  base: abstract new (...args: never[]) => Error;
  code: status;
  message: string;
  /** Expected under contention or load: logged as a rejection, not as a failure. */
  expected?: boolean;
}> = [
  { base: DependencyUnavailableError, code: status.UNAVAILABLE, message: 'service temporarily unavailable' },
  { base: ConcurrentUpdateError, code: status.ABORTED, message: 'concurrent update, retry the call', expected: true },
  { base: RateLimitedError, code: status.RESOURCE_EXHAUSTED, message: 'too many requests, retry later', expected: true },
];

/**
 * Typed client for two Konaplate Open API calls:
 * - POST /api/v1/bankaccounts/user/valid — account-holder real-name verification (seed 001),
 *   request encrypted when a cipher is configured;
 * - POST /api/v1/bankaccounts/inquiry — the member's registered accounts (seed 002), response
 *   encrypted when a cipher is configured.
 *
 * Safety rules (docs/reliability.md item 9):
 * - Holder verification is sent at most once once it may have reached the server. A timeout, a
 *   reset connection, a 5xx without a result code or an unreadable success surfaces as
 *   `OutcomeUnknownError`; only a refused connection (the request never left) is retried.
 * - The inquiry only reads, so network failures and 5xx are retried with jittered backoff.
 * - Charge and withdrawal (ASSUMED API, money-movement.ts) move money: like holder verification
 *   they are sent once and a lost answer is `OutcomeUnknownError`; the caller resolves it with
 *   the transaction inquiry (retried like the other reads) and may resend the same tranId.
 */
import type { Logger } from '@kfrm/logging';
import type { FieldCipher } from './cipher';
import { EnvelopeDecryptionError, parseEnvelope, type JsonObject } from './envelope';
import {
  errorForResultCode,
  errorOfKind,
  type KonaplateError,
  KonaplateValidationError,
  OutcomeUnknownError,
  type KonaplateOperation,
} from './errors';
import {
  buildSignedHeaders,
  createCorrelationId,
  HEADER,
  HEADER_LENGTH,
  isCorrelationId,
  type KonaplateTimeZone,
  type TranTokenForm,
} from './headers';
import { maskAccountNumber, maskBirthDate, maskName } from './log-fields';
import { isJsonObject, JsonNumber, stringifyJson, type JsonValue } from './lossless-json';
import {
  MEMBER_REGISTRATION_PATH,
  memberRegistrationPayload,
  readIssuedMemberId,
  validateMemberRegistration,
  type MemberRegistered,
  type MemberRegistrationRequest,
} from './member-registration';
import {
  MONEY_MOVEMENT_PATHS,
  moneyMovementPayload,
  readApprovalNo,
  readTransactionHistory,
  readTransactionStatus,
  transactionHistoryPayload,
  validateMoneyMovement,
  validateTransactionHistory,
  validateTransactionInquiry,
  type MoneyMoved,
  type MoneyMovementRequest,
  type TransactionHistoryPage,
  type TransactionHistoryRequest,
  type TransactionInquiryRequest,
  type TransactionStatus,
} from './money-movement';
import {
  ARS_REGISTRATION_PATHS,
  arsCodePayload,
  arsRegistrationPayload,
  readArsCode,
  readRegistrationStatus,
  validateArsCodeRequest,
  validateArsRegistration,
  type AccountRegistrationRequest,
  type AccountRegistrationStatus,
  type ArsCodeIssued,
  type ArsCodeRequest,
} from './ars-registration';
import { SUCCESS_CODE } from './result-codes';
import {
  birthDateOnWire,
  DEFAULT_BIRTH_DATE_FORM,
  validateAccountHolderVerification,
  type BirthDateForm,
  validateBankAccountInquiry,
  type AccountHolderVerificationRequest,
  type BankAccountInquiryRequest,
} from './validation';

export const PATHS = {
  verifyAccountHolder: '/api/v1/bankaccounts/user/valid',
  inquireBankAccounts: '/api/v1/bankaccounts/inquiry',
  registerMember: MEMBER_REGISTRATION_PATH,
  ...MONEY_MOVEMENT_PATHS,
  ...ARS_REGISTRATION_PATHS,
} as const satisfies Record<KonaplateOperation, string>;

export interface RetryPolicy {
  /** Attempts in total, the first included. */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * Told once per HTTP attempt (metrics). `outcome` is 'ok', a transport failure (not_sent, timeout,
 * aborted, connection_lost, too_large) or the error kind of the answer: a small fixed set.
 */
export type KonaplateCallObserver = (event: { operation: KonaplateOperation; outcome: string; seconds: number }) => void;

export interface KonaplateClientOptions {
  /** e.g. https://sandbox.konaplate.com/open-api, or a local sandbox's url. */
  baseUrl: string;
  aspId: string;
  accessKey: string;
  secretKey: string;
  /** Zone of every header timestamp; KST by default. */
  timeZone?: KonaplateTimeZone;
  /** Message encryption; when absent requests and responses are plain JSON. */
  cipher?: FieldCipher;
  /** Per-attempt time limit, 10 s by default. */
  timeoutMs?: number;
  inquiryRetry?: Partial<RetryPolicy>;
  /** Extra attempts of holder verification when the connection was refused (never sent). */
  connectRetries?: number;
  /** X-KM-Tran-Token padding: the seeds disagree (docs/external-apis.md); 'padded' by default. */
  tranTokenForm?: TranTokenForm;
  /** birthDate on the wire: the seeds disagree (docs/external-apis.md); 'yyyyMMdd' by default. */
  birthDateForm?: BirthDateForm;
  maxResponseBytes?: number;
  logger?: Logger;
  observer?: KonaplateCallObserver;
  /** The clock for header timestamps (tests move it). */
  now?: () => Date;
}

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * X-KM-Correlation-Id of the (first) attempt. Storing it before calling lets a crashed caller
   * reconcile later; generated when absent.
   */
  correlationId?: string;
}

export interface AccountHolderVerified {
  verified: true;
  correlationId: string;
}

export interface RegisteredBankAccount {
  bankAccount: string;
  bankCode: string;
  bankName: string;
}

export interface RegisteredBankAccounts {
  /** 일반 충전 계좌 */
  bankAccForNormalRcg?: RegisteredBankAccount;
  /** 자동 충전 계좌 */
  bankAccForAutoRcg?: RegisteredBankAccount;
  /** true when a normal account exists and no auto-recharge account does yet. */
  isAutoRcgAccRegAllowed: boolean;
  correlationId: string;
}

export interface KonaplateClient {
  verifyAccountHolder(request: AccountHolderVerificationRequest, options?: CallOptions): Promise<AccountHolderVerified>;
  inquireBankAccounts(request: BankAccountInquiryRequest, options?: CallOptions): Promise<RegisteredBankAccounts>;
  /**
   * Registers a member (ASSUMED API, member-registration.ts) and returns the member id to send as
   * `userId`. Idempotent by `loginId`, so it is retried like the inquiry.
   */
  registerMember(request: MemberRegistrationRequest, options?: CallOptions): Promise<MemberRegistered>;
  /**
   * Charges the member's card balance from their registered bank account (ASSUMED API). Sent at
   * most once: a lost answer is OutcomeUnknownError, resolved with `inquireTransaction`.
   */
  charge(request: MoneyMovementRequest, options?: CallOptions): Promise<MoneyMoved>;
  /** Pays money out to the member's registered bank account (ASSUMED API); as `charge`. */
  withdraw(request: MoneyMovementRequest, options?: CallOptions): Promise<MoneyMoved>;
  /** What became of a charge or withdrawal by its tranId (ASSUMED API); a read, retried. */
  inquireTransaction(request: TransactionInquiryRequest, options?: CallOptions): Promise<TransactionStatus & { correlationId: string }>;
  /** One page of a member's charges and withdrawals over KST days (ASSUMED API); a read, retried. */
  listTransactions(request: TransactionHistoryRequest, options?: CallOptions): Promise<TransactionHistoryPage & { correlationId: string }>;
  /**
   * Issues the code the member keys in on the ARS call, for an account whose holder Konaplate
   * verified (ASSUMED API, ars-registration.ts). Idempotent by regTranId, so retried like a read.
   */
  issueArsCode(request: ArsCodeRequest, options?: CallOptions): Promise<ArsCodeIssued>;
  /** Asks Konaplate to register the account through its PG: it places the ARS call. Idempotent by regTranId. */
  registerBankAccount(
    request: AccountRegistrationRequest,
    options?: CallOptions,
  ): Promise<AccountRegistrationStatus & { correlationId: string }>;
  /** Where an ARS registration stands (계좌 등록 상태 조회, ASSUMED API); a read, retried. */
  inquireAccountRegistration(
    request: AccountRegistrationRequest,
    options?: CallOptions,
  ): Promise<AccountRegistrationStatus & { correlationId: string }>;
}

const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 2_000 };
const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/** Connection errors raised before any byte of the request was written. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

type Transport =
  | { ok: true; status: number; bodyText: string; correlationIdEcho: string | null }
  | { ok: false; failure: 'not_sent' | 'timeout' | 'aborted' | 'connection_lost' | 'too_large'; cause: unknown };

export function createKonaplateClient(options: KonaplateClientOptions): KonaplateClient {
  checkCredentials(options);
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const timeZone = options.timeZone ?? 'KST';
  const now = options.now ?? (() => new Date());
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.inquiryRetry };
  const connectRetries = options.connectRetries ?? 2;
  const birthDateForm = options.birthDateForm ?? DEFAULT_BIRTH_DATE_FORM;
  const maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const log = options.logger;
  const credentials = { aspId: options.aspId, accessKey: options.accessKey, secretKey: options.secretKey };

  async function send(operation: KonaplateOperation, body: string, correlationId: string, call: CallOptions): Promise<Transport> {
    const headers = buildSignedHeaders({
      credentials,
      body,
      at: now(),
      timeZone,
      correlationId,
      cryptoKeyId: options.cipher?.keyId,
      tranTokenForm: options.tranTokenForm,
    });
    // Aborted before anything left: provably not sent.
    if (call.signal?.aborted) return { ok: false, failure: 'not_sent', cause: call.signal.reason };
    const timeout = AbortSignal.timeout(call.timeoutMs ?? options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const signal = call.signal ? AbortSignal.any([timeout, call.signal]) : timeout;
    try {
      const response = await fetch(`${baseUrl}${PATHS[operation]}`, { method: 'POST', headers, body, signal });
      const bodyText = await readCapped(response, maxResponseBytes);
      if (bodyText === undefined) return { ok: false, failure: 'too_large', cause: undefined };
      return { ok: true, status: response.status, bodyText, correlationIdEcho: response.headers.get(HEADER.correlationId) };
    } catch (cause) {
      if (call.signal?.aborted) return { ok: false, failure: 'aborted', cause: call.signal.reason };
      if (timeout.aborted) return { ok: false, failure: 'timeout', cause };
      const code = errorCode(cause);
      return { ok: false, failure: code !== undefined && NOT_SENT_CODES.has(code) ? 'not_sent' : 'connection_lost', cause };
    }
  }

  /**
   * Turns an answer into data or a typed error. `doubtful` marks answers that do not prove the
   * request was refused (a 5xx, an unreadable success): for holder verification they become
   * OutcomeUnknownError.
   */
  async function interpret(
    operation: KonaplateOperation,
    correlationId: string,
    transport: Extract<Transport, { ok: true }>,
  ): Promise<{ data: JsonObject } | { error: KonaplateError; doubtful: boolean }> {
    const { status } = transport;
    const details = { operation, httpStatus: status, correlationId };
    if (transport.correlationIdEcho !== null && transport.correlationIdEcho !== correlationId) {
      // An answer to some other request: what happened to ours is not known.
      return { error: errorOfKind('protocol', 'PROTOCOL', details), doubtful: true };
    }
    let envelope;
    try {
      envelope = await parseEnvelope(transport.bodyText, options.cipher);
    } catch (cause) {
      if (cause instanceof EnvelopeDecryptionError) {
        return { error: errorOfKind('protocol', 'PROTOCOL', { ...details, cause }), doubtful: status < 300 };
      }
      throw cause;
    }
    if (envelope.type === 'no_result') {
      if (status === 401 || status === 403) return { error: errorOfKind('unauthorized', 'HTTP_STATUS', details), doubtful: false };
      if (status >= 500 || status === 429) return { error: errorOfKind('server_error', 'HTTP_STATUS', details), doubtful: status >= 500 };
      return { error: errorOfKind('protocol', 'PROTOCOL', details), doubtful: status < 300 };
    }
    if (envelope.code === SUCCESS_CODE && status >= 200 && status < 300) return { data: envelope.data };
    return { error: errorForResultCode(envelope.code, { ...details, serverDescription: envelope.description }), doubtful: false };
  }

  function logAttempt(
    operation: KonaplateOperation,
    correlationId: string,
    attempt: number,
    started: number,
    outcome: { http_status?: number; result_code?: string; failure?: string },
    context: Record<string, unknown>,
    observed: string,
  ) {
    try {
      options.observer?.({ operation, outcome: observed, seconds: (Date.now() - started) / 1000 });
    } catch {
      // Metrics must never fail a payment call.
    }
    log?.info(
      { konaplate: { operation, correlation_id: correlationId, attempt, duration_ms: Date.now() - started, ...outcome }, ...context },
      'konaplate call',
    );
  }

  return {
    async verifyAccountHolder(request, call = {}) {
      const operation = 'verifyAccountHolder';
      const issues = validateAccountHolderVerification(request);
      checkCallCorrelationId(call, issues);
      if (issues.length > 0) throw new KonaplateValidationError(issues, operation);

      const payload = stringifyJson({
        userId: new JsonNumber(request.userId),
        userName: request.userName,
        birthDate: birthDateOnWire(request.birthDate, birthDateForm),
        bankCode: request.bankCode,
        bankAccount: request.bankAccount,
      });
      const body = options.cipher ? stringifyJson({ encData: await options.cipher.encrypt(payload) }) : payload;
      const context = {
        user_id: request.userId,
        holder_name: maskName(request.userName),
        bank_code: request.bankCode,
        bank_account: maskAccountNumber(request.bankAccount),
        birth: maskBirthDate(request.birthDate),
      };

      const { correlationId } = await sendOnce(operation, body, context, call);
      return { verified: true, correlationId };
    },

    async inquireBankAccounts(request, call = {}) {
      const operation = 'inquireBankAccounts';
      const issues = validateBankAccountInquiry(request);
      checkCallCorrelationId(call, issues);
      if (issues.length > 0) throw new KonaplateValidationError(issues, operation);
      const body = stringifyJson({ userId: new JsonNumber(request.userId) });
      const { data, correlationId } = await sendRetrying(operation, body, { user_id: request.userId }, call);
      return { ...readRegisteredAccounts(data, correlationId), correlationId };
    },

    async registerMember(request, call = {}) {
      const operation = 'registerMember';
      const issues = validateMemberRegistration(request);
      checkCallCorrelationId(call, issues);
      if (issues.length > 0) throw new KonaplateValidationError(issues, operation);
      const payload = stringifyJson(memberRegistrationPayload(request, birthDateForm));
      const body = options.cipher ? stringifyJson({ encData: await options.cipher.encrypt(payload) }) : payload;
      const context = { holder_name: maskName(request.userName), birth: maskBirthDate(request.birthDate) };
      const { data, correlationId } = await sendRetrying(operation, body, context, call);
      const userId = readIssuedMemberId(data);
      if (userId === undefined) throw errorOfKind('protocol', 'PROTOCOL', { operation, httpStatus: 200, correlationId });
      return { userId, correlationId };
    },

    charge: (request, call = {}) => moveMoney('charge', request, call),
    withdraw: (request, call = {}) => moveMoney('withdraw', request, call),

    async inquireTransaction(request, call = {}) {
      const operation = 'inquireTransaction';
      const issues = validateTransactionInquiry(request);
      checkCallCorrelationId(call, issues);
      if (issues.length > 0) throw new KonaplateValidationError(issues, operation);
      const body = stringifyJson({ userId: new JsonNumber(request.userId), tranId: request.tranId });
      const { data, correlationId } = await sendRetrying(operation, body, { user_id: request.userId, tran_id: request.tranId }, call);
      const status = readTransactionStatus(data);
      if (status === undefined) throw errorOfKind('protocol', 'PROTOCOL', { operation, httpStatus: 200, correlationId });
      return { ...status, correlationId };
    },

    async listTransactions(request, call = {}) {
      const operation = 'listTransactions';
      const issues = validateTransactionHistory(request);
      checkCallCorrelationId(call, issues);
      if (issues.length > 0) throw new KonaplateValidationError(issues, operation);
      const body = stringifyJson(transactionHistoryPayload(request));
      const context = { user_id: request.userId, from: request.fromDate, to: request.toDate, page: request.pageNo };
      const { data, correlationId } = await sendRetrying(operation, body, context, call);
      const page = readTransactionHistory(data);
      if (page === undefined) throw errorOfKind('protocol', 'PROTOCOL', { operation, httpStatus: 200, correlationId });
      return { ...page, correlationId };
    },

    async issueArsCode(request, call = {}) {
      const operation = 'issueArsCode';
      const issues = validateArsCodeRequest(request);
      checkCallCorrelationId(call, issues);
      if (issues.length > 0) throw new KonaplateValidationError(issues, operation);
      const context = {
        user_id: request.userId,
        reg_tran_id: request.regTranId,
        bank_code: request.bankCode,
        bank_account: maskAccountNumber(request.bankAccount),
      };
      // The account number travels as in holder verification: encrypted when a cipher is configured.
      const payload = stringifyJson(arsCodePayload(request));
      const body = options.cipher ? stringifyJson({ encData: await options.cipher.encrypt(payload) }) : payload;
      const { data, correlationId } = await sendRetrying(operation, body, context, call);
      const issued = readArsCode(data, request.regTranId);
      if (issued === undefined) throw errorOfKind('protocol', 'PROTOCOL', { operation, httpStatus: 200, correlationId });
      return { ...issued, correlationId };
    },

    registerBankAccount: (request, call = {}) => registrationStatus('registerBankAccount', request, call),
    inquireAccountRegistration: (request, call = {}) => registrationStatus('inquireAccountRegistration', request, call),
  };

  /** Registration by ARS and its status inquiry: both answer the registration's status; both retried. */
  async function registrationStatus(
    operation: 'registerBankAccount' | 'inquireAccountRegistration',
    request: AccountRegistrationRequest,
    call: CallOptions,
  ): Promise<AccountRegistrationStatus & { correlationId: string }> {
    const issues = validateArsRegistration(request);
    checkCallCorrelationId(call, issues);
    if (issues.length > 0) throw new KonaplateValidationError(issues, operation);
    const context = { user_id: request.userId, reg_tran_id: request.regTranId };
    const { data, correlationId } = await sendRetrying(operation, stringifyJson(arsRegistrationPayload(request)), context, call);
    const status = readRegistrationStatus(data, request.regTranId);
    if (status === undefined) throw errorOfKind('protocol', 'PROTOCOL', { operation, httpStatus: 200, correlationId });
    return { ...status, correlationId };
  }

  /** Charge or withdrawal: sent once; only a refused connection (never sent) is tried again. */
  async function moveMoney(operation: 'charge' | 'withdraw', request: MoneyMovementRequest, call: CallOptions): Promise<MoneyMoved> {
    const issues = validateMoneyMovement(request);
    checkCallCorrelationId(call, issues);
    if (issues.length > 0) throw new KonaplateValidationError(issues, operation);
    const body = stringifyJson(moneyMovementPayload(request));
    const context = { user_id: request.userId, tran_id: request.tranId, amount: request.amount.toString() };
    const { data, correlationId, httpStatus } = await sendOnce(operation, body, context, call);
    const approvalNo = readApprovalNo(data);
    // A success we cannot read proves the money moved but not how: the inquiry will tell.
    if (approvalNo === undefined) throw new OutcomeUnknownError(operation, correlationId, { httpStatus });
    return { tranId: request.tranId, approvalNo, correlationId };
  }

  function checkCallCorrelationId(call: CallOptions, issues: { field: string; rule: string }[]) {
    if (call.correlationId !== undefined && !isCorrelationId(call.correlationId, timeZone)) {
      issues.push({ field: 'correlationId', rule: 'must be yyMMddHHmmss-xxxxxxx (7 hex characters)' });
    }
  }

  /**
   * For calls that may be repeated without harm (a read, or a write idempotent by a key of ours):
   * network failures, timeouts and HTTP 5xx/429 are retried with backoff; a result code is final.
   */
  /**
   * For calls that must not be repeated once they may have reached Konaplate (holder verification,
   * charge, withdrawal): only a refused connection — proof that nothing was sent — is tried again.
   * Anything after that which leaves the outcome open is an OutcomeUnknownError for the caller to
   * resolve (by inquiry), never a retry.
   */
  async function sendOnce(
    operation: KonaplateOperation,
    body: string,
    context: Record<string, unknown>,
    call: CallOptions,
  ): Promise<{ data: JsonObject; correlationId: string; httpStatus: number }> {
    for (let attempt = 1; ; attempt++) {
      const correlationId = attempt === 1 && call.correlationId ? call.correlationId : createCorrelationId(now(), timeZone);
      const started = Date.now();
      const transport = await send(operation, body, correlationId, call);
      if (!transport.ok) {
        logAttempt(operation, correlationId, attempt, started, { failure: transport.failure }, context, transport.failure);
        if (transport.failure === 'not_sent') {
          if (attempt <= connectRetries && !call.signal?.aborted) {
            await sleep(backoffMs(attempt, retry), call.signal);
            continue;
          }
          throw errorOfKind('network', 'NETWORK', { operation, correlationId, cause: transport.cause });
        }
        throw new OutcomeUnknownError(operation, correlationId, { cause: transport.cause });
      }
      const result = await interpret(operation, correlationId, transport);
      logAttempt(
        operation,
        correlationId,
        attempt,
        started,
        { http_status: transport.status, result_code: 'error' in result ? result.error.code : SUCCESS_CODE },
        context,
        'error' in result ? result.error.kind : 'ok',
      );
      if ('error' in result) {
        if (result.doubtful) throw new OutcomeUnknownError(operation, correlationId, { httpStatus: transport.status, cause: result.error });
        throw result.error;
      }
      return { data: result.data, correlationId, httpStatus: transport.status };
    }
  }

  async function sendRetrying(
    operation: KonaplateOperation,
    body: string,
    context: Record<string, unknown>,
    call: CallOptions,
  ): Promise<{ data: JsonObject; correlationId: string }> {
    let lastError: KonaplateError | undefined;
    for (let attempt = 1; attempt <= retry.maxAttempts; attempt++) {
      if (attempt > 1) await sleep(backoffMs(attempt - 1, retry), call.signal);
      const correlationId = attempt === 1 && call.correlationId ? call.correlationId : createCorrelationId(now(), timeZone);
      const started = Date.now();
      const transport = await send(operation, body, correlationId, call);
      if (!transport.ok) {
        logAttempt(operation, correlationId, attempt, started, { failure: transport.failure }, context, transport.failure);
        lastError = errorOfKind('network', 'NETWORK', { operation, correlationId, cause: transport.cause });
        if (transport.failure === 'aborted' || transport.failure === 'too_large') throw lastError;
        continue;
      }
      const result = await interpret(operation, correlationId, transport);
      logAttempt(
        operation,
        correlationId,
        attempt,
        started,
        { http_status: transport.status, result_code: 'error' in result ? result.error.code : SUCCESS_CODE },
        context,
        'error' in result ? result.error.kind : 'ok',
      );
      if ('error' in result) {
        lastError = result.error;
        // A server failure may pass; a result code will not change.
        if (result.error.kind === 'server_error') continue;
        throw result.error;
      }
      return { data: result.data, correlationId };
    }
    throw lastError ?? errorOfKind('network', 'NETWORK', { operation });
  }
}

function readRegisteredAccounts(data: JsonObject, correlationId: string): Omit<RegisteredBankAccounts, 'correlationId'> {
  const fail = () => errorOfKind('protocol', 'PROTOCOL', { operation: 'inquireBankAccounts', httpStatus: 200, correlationId });
  const allowed = data.isAutoRcgAccRegAllowed;
  if (typeof allowed !== 'boolean') throw fail();
  const normal = readAccount(data.bankAccForNormalRcg);
  const auto = readAccount(data.bankAccForAutoRcg);
  if (normal === null || auto === null) throw fail();
  return {
    ...(normal ? { bankAccForNormalRcg: normal } : {}),
    ...(auto ? { bankAccForAutoRcg: auto } : {}),
    isAutoRcgAccRegAllowed: allowed,
  };
}

/** undefined when absent, null when present but malformed. */
function readAccount(value: JsonValue | undefined): RegisteredBankAccount | undefined | null {
  if (value === undefined || value === null) return undefined;
  if (!isJsonObject(value)) return null;
  const { bankAccount, bankCode, bankName } = value;
  if (typeof bankAccount !== 'string' || !/^\d{1,20}$/.test(bankAccount)) return null;
  if (typeof bankCode !== 'string' || !/^\d{3}$/.test(bankCode)) return null;
  if (typeof bankName !== 'string' || bankName.length === 0) return null;
  return { bankAccount, bankCode, bankName };
}

function checkCredentials(options: KonaplateClientOptions): void {
  const problems: string[] = [];
  if (options.aspId.length !== HEADER_LENGTH.aspId) problems.push(`aspId must have ${HEADER_LENGTH.aspId} characters`);
  if (options.accessKey.length !== HEADER_LENGTH.accessKey) problems.push(`accessKey must have ${HEADER_LENGTH.accessKey} characters`);
  if (options.secretKey.length === 0) problems.push('secretKey is empty');
  if (options.cipher && options.cipher.keyId.length !== HEADER_LENGTH.cryptoKeyId) {
    problems.push(`cipher.keyId must have ${HEADER_LENGTH.cryptoKeyId} characters`);
  }
  if (!/^https?:\/\//.test(options.baseUrl)) problems.push('baseUrl must be an http(s) URL');
  // Header values are ASCII; anything else would be mangled on the wire and fail the HMAC check.
  if (!/^[\x21-\x7e]*$/.test(options.aspId + options.accessKey)) problems.push('aspId and accessKey must be printable ASCII');
  if (problems.length > 0) throw new TypeError(`Konaplate client options: ${problems.join('; ')}`);
}

/** Full jitter: a random wait up to base·2^(n-1), capped. */
function backoffMs(failedAttempts: number, policy: RetryPolicy): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (failedAttempts - 1));
  return Math.floor(Math.random() * ceiling);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortError(signal: AbortSignal): KonaplateError {
  return errorOfKind('network', 'NETWORK', { cause: signal.reason });
}

async function readCapped(response: Response, maxBytes: number): Promise<string | undefined> {
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function errorCode(err: unknown): string | undefined {
  // fetch wraps socket errors: TypeError('fetch failed') with the system error as `cause`.
  for (let current: unknown = err, depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

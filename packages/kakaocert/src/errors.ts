/**
 * Errors of the kakaoCert client. Three different situations that a caller must treat
 * differently, so they are different classes:
 *
 * - `KakaocertError`: a definite "no", either from kakaoCert (HTTP non-200 with `{code, message}`,
 *   code a negative 8-digit number) or from our own input check (code -99999999, as the public
 *   SDK uses). `message` is safe to show to the user; it never contains the values sent.
 * - `KakaocertTransportError`: we could not get an answer (connection refused or reset, timeout,
 *   a body that is not the documented JSON). Safe to retry only for calls that change nothing
 *   (GetCMSState) or that never reached the server (`maybeReachedServer === false`).
 * - `OutcomeUnknownError`: a call that changes state (VerifyCMS, RequestCMS) may have been
 *   processed but we did not see the answer. Never retry blindly: reconcile first (reliability
 *   item 9). For VerifyCMS this matters most, since kakaoCert answers it only once.
 */

/** The code the public SDK uses for errors raised on the client side. */
export const LOCAL_ERROR_CODE = -99999999;

export class KakaocertError extends Error {
  override name = 'KakaocertError';
  constructor(
    /** Negative 8-digit kakaoCert/Linkhub code, or LOCAL_ERROR_CODE. */
    readonly code: number,
    message: string,
    options?: { cause?: unknown; httpStatus?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.httpStatus = options?.httpStatus;
  }
  /** HTTP status of the answer, when the error came from a server. */
  readonly httpStatus: number | undefined;
}

/** Our own check of the input failed; nothing was sent. */
export class KakaocertValidationError extends KakaocertError {
  override name = 'KakaocertValidationError';
  constructor(
    /** The RequestCMS key (or 'clientCode' / 'receiptId') that failed. */
    readonly field: string,
    message: string,
  ) {
    super(LOCAL_ERROR_CODE, message);
  }
}

export type TransportFailureKind = 'timeout' | 'aborted' | 'network' | 'bad_response';

/** No usable answer. `maybeReachedServer` is false only when the connection never opened. */
export class KakaocertTransportError extends Error {
  override name = 'KakaocertTransportError';
  readonly code = LOCAL_ERROR_CODE;
  constructor(
    readonly kind: TransportFailureKind,
    message: string,
    readonly maybeReachedServer: boolean,
    options?: { cause?: unknown; httpStatus?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.httpStatus = options?.httpStatus;
  }
  readonly httpStatus: number | undefined;
}

/**
 * A state-changing call may or may not have happened. For VerifyCMS the signedData may be lost
 * on kakaoCert's side (a second VerifyCMS fails), so this must reach a human or a reconciliation
 * job, never an automatic retry.
 */
export class OutcomeUnknownError extends Error {
  override name = 'OutcomeUnknownError';
  constructor(
    readonly operation: 'RequestCMS' | 'VerifyCMS',
    /** The receipt concerned; undefined for RequestCMS (the id is what we did not receive). */
    readonly receiptId: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { Any } from '@kfrm/proto/gen/google/protobuf/any';
import { Status } from '@kfrm/proto/gen/google/rpc/status';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { DomainError, InvalidArgumentError, NotImplementedError, PermissionDeniedError } from '@kfrm/errors';
import { apiErrorType, codeNumber, type ApiErrorType } from './api-error-type';
import { ERROR_STATUS, INFRASTRUCTURE_ERROR_STATUS } from './error-status-table';
import { APPROVAL_ID_TRAILER, ApprovalPendingError } from './operator-approval';

export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';
const TYPE_URL_PREFIX = 'type.googleapis.com/';

export const commonApiError = apiErrorType(CommonApiError, CommonApiError_ErrorCode);

export interface MappedError {
  error: Partial<ServiceError> & { code: status; details: string; metadata: Metadata };
  /** True when the error is a bug or an outage (logged at error level with its cause). */
  unexpected: boolean;
}

function withDetails(code: status, message: string, detail?: { type: ApiErrorType; code: number }): MappedError['error'] {
  const metadata = new Metadata();
  const details = detail
    ? [
        Any.fromPartial({
          typeUrl: TYPE_URL_PREFIX + detail.type.message.$type,
          value: Buffer.from(detail.type.message.encode({ code: detail.code }).finish()),
        }),
      ]
    : [];
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(Status.encode(Status.fromPartial({ code, message, details })).finish()));
  return { code, details: message, metadata };
}

/**
 * Turns anything a handler threw into what the client sees. A DomainError whose code belongs to
 * the method's ApiError enum (or to CommonApiError) travels as that message in
 * `grpc-status-details-bin`; its status code comes from ERROR_STATUS. Anything unknown becomes
 * INTERNAL with a generic message: the cause is for the log, never for the client.
 */
export function mapError(err: unknown, methodErrors: ApiErrorType | undefined): MappedError {
  if (err instanceof DomainError) {
    const grpcCode = ERROR_STATUS[err.code];
    const methodCode = methodErrors ? codeNumber(methodErrors, err.code) : undefined;
    if (grpcCode !== undefined && methodErrors && methodCode !== undefined) {
      return { error: withDetails(grpcCode, err.message, { type: methodErrors, code: methodCode }), unexpected: false };
    }
    const commonCode = codeNumber(commonApiError, err.code);
    if (grpcCode !== undefined && commonCode !== undefined) {
      return { error: withDetails(grpcCode, err.message, { type: commonApiError, code: commonCode }), unexpected: false };
    }
    // A code this method does not declare is a programming error: don't leak it.
    return {
      error: withDetails(status.INTERNAL, 'internal error', { type: commonApiError, code: CommonApiError_ErrorCode.UNKNOWN_ERROR }),
      unexpected: true,
    };
  }
  if (err instanceof InvalidArgumentError) return { error: withDetails(status.INVALID_ARGUMENT, err.message), unexpected: false };
  if (err instanceof PermissionDeniedError) return { error: withDetails(status.PERMISSION_DENIED, err.message), unexpected: false };
  if (err instanceof ApprovalPendingError) {
    const error = withDetails(status.FAILED_PRECONDITION, err.message);
    error.metadata.set(APPROVAL_ID_TRAILER, err.approvalId);
    return { error, unexpected: false };
  }
  if (err instanceof NotImplementedError) return { error: withDetails(status.UNIMPLEMENTED, err.message), unexpected: false };
  if (isDatabaseDataException(err)) {
    // SQLSTATE class 22: the database could not hold a value the request carried (an id past
    // bigint, a NUL byte in text, ...). The caller's input, not our failure.
    return { error: withDetails(status.INVALID_ARGUMENT, 'a value in the request is out of range or not valid text'), unexpected: false };
  }
  const infrastructure = INFRASTRUCTURE_ERROR_STATUS.find((row) => err instanceof row.base);
  if (infrastructure) return { error: withDetails(infrastructure.code, infrastructure.message), unexpected: !infrastructure.expected };
  return {
    error: withDetails(status.INTERNAL, 'internal error', { type: commonApiError, code: CommonApiError_ErrorCode.UNKNOWN_ERROR }),
    unexpected: true,
  };
}

/**
 * A PostgreSQL "data exception" (SQLSTATE class 22) behind `err` (itself or its cause chain), from
 * pg or PGlite: both throw pg-protocol errors with the SQLSTATE in `code` and a `severity`.
 */
function isDatabaseDataException(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < 8 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && code.length === 5 && code.startsWith('22') && 'severity' in current) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

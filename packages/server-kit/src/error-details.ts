import type { Metadata, ServiceError } from '@grpc/grpc-js';
import { Status } from '@kfrm/proto/gen/google/rpc/status';
import type { ApiErrorMessage } from './api-error-type';
import { STATUS_DETAILS_KEY } from './error-mapping';

const TYPE_URL_PREFIX = 'type.googleapis.com/';

export interface DecodedStatus {
  code: number;
  message: string;
  details: { typeName: string; value: Uint8Array }[];
}

/** Reads `google.rpc.Status` from an error's trailers; undefined when there is none. */
export function decodeStatusDetails(err: { metadata?: Metadata } | ServiceError): DecodedStatus | undefined {
  const raw = err.metadata?.get(STATUS_DETAILS_KEY)[0];
  if (!raw || typeof raw === 'string') return undefined;
  const decoded = Status.decode(raw);
  return {
    code: decoded.code,
    message: decoded.message,
    details: decoded.details.map((any) => ({
      typeName: any.typeUrl.startsWith(TYPE_URL_PREFIX) ? any.typeUrl.slice(TYPE_URL_PREFIX.length) : any.typeUrl,
      value: any.value,
    })),
  };
}

/**
 * The seed error code a call failed with, decoded with the method's ApiError message type:
 * `apiErrorCode(err, GetKeyApiError)` → `{ code: GetKeyApiError_ErrorCode.PROVIDER_NOT_FOUND }`.
 */
export function apiErrorCode(err: unknown, message: ApiErrorMessage): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const decoded = decodeStatusDetails(err as { metadata?: Metadata });
  const detail = decoded?.details.find((d) => d.typeName === message.$type);
  return detail ? message.decode(detail.value).code : undefined;
}

import * as grpc from '@grpc/grpc-js';
import * as accountApi from '@kfrm/proto/gen/kfrm/api/account/account';
import * as ledgerApi from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import * as authApi from '@kfrm/proto/gen/kfrm/api/auth/auth';
import * as authenticationApi from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import * as casaApi from '@kfrm/proto/gen/kfrm/api/casa/casa';
import * as commonErrors from '@kfrm/proto/gen/kfrm/api/common/error';
import * as deviceApi from '@kfrm/proto/gen/kfrm/api/device/device';
import * as keyApi from '@kfrm/proto/gen/kfrm/api/key/key';
import * as transferApi from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { decodeStatusDetails, type ApiErrorMessage } from '@kfrm/server-kit';

interface KnownApiError {
  message: ApiErrorMessage;
  codes: Record<string | number, string | number>;
}

/**
 * Every `<Method>ApiError` of the services the demo calls, by protobuf type name, with its
 * `<Method>ApiError_ErrorCode` enum: the server kit puts one of them into
 * `grpc-status-details-bin`, and the type name says which enum names the code.
 */
const KNOWN: ReadonlyMap<string, KnownApiError> = (() => {
  const known = new Map<string, KnownApiError>();
  for (const module of [accountApi, ledgerApi, authApi, authenticationApi, casaApi, commonErrors, deviceApi, keyApi, transferApi] as Record<
    string,
    unknown
  >[]) {
    for (const [name, value] of Object.entries(module)) {
      const codes = module[`${name}_ErrorCode`];
      if (!name.endsWith('ApiError') || !codes || typeof value !== 'object' || value === null || !('$type' in value)) continue;
      const message = value as ApiErrorMessage;
      known.set(message.$type, { message, codes: codes as KnownApiError['codes'] });
    }
  }
  return known;
})();

export interface DescribedError {
  /** gRPC status name, e.g. FAILED_PRECONDITION; undefined when the error is not a gRPC one. */
  status?: string;
  statusCode?: number;
  /** The seed error code, e.g. CompleteOpeningApiError.KYC_NOT_VERIFIED. */
  seedCode?: string;
  message: string;
}

const isServiceError = (err: unknown): err is grpc.ServiceError =>
  typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number' && 'metadata' in err;

/** The gRPC status and the seed error code of a failed call, in words. */
export function describeError(err: unknown): DescribedError {
  if (!isServiceError(err)) return { message: err instanceof Error ? err.message : String(err) };
  const described: DescribedError = {
    status: grpc.status[err.code] ?? String(err.code),
    statusCode: err.code,
    message: err.details || err.message,
  };
  const decoded = decodeStatusDetails(err);
  for (const detail of decoded?.details ?? []) {
    const known = KNOWN.get(detail.typeName);
    if (!known) {
      described.seedCode = detail.typeName;
      continue;
    }
    const code = known.message.decode(detail.value).code;
    const shortType = detail.typeName.slice(detail.typeName.lastIndexOf('.') + 1);
    described.seedCode = `${shortType}.${String(known.codes[code] ?? code)}`;
    break;
  }
  return described;
}

/** One line: "FAILED_PRECONDITION (9), seed code CompleteOpeningApiError.KYC_NOT_VERIFIED: …". */
export function formatError(described: DescribedError): string {
  if (described.status === undefined) return described.message;
  const seed = described.seedCode ? `, seed code ${described.seedCode}` : ', no seed code';
  return `gRPC status ${described.status} (${described.statusCode})${seed}: ${described.message}`;
}

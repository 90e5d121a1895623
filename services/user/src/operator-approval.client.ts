import * as grpc from '@grpc/grpc-js';
import { UpstreamRefusal, UpstreamUnavailableError } from '@kfrm/errors';
import {
  DepositApiError,
  DepositApiError_ErrorCode,
  DepositRequest,
  LedgerServiceClient,
} from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import {
  CredentialServiceClient,
  UnlockUserApiError,
  UnlockUserApiError_ErrorCode,
  UnlockUserRequest,
} from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import {
  UpdateUserStatusApiError,
  UpdateUserStatusApiError_ErrorCode,
  UpdateUserStatusRequest,
  UserAccountServiceClient,
} from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { type InternalClients, unaryCall } from '@kfrm/runtime';
import { apiErrorType } from '@kfrm/server-kit';
import type { ApprovedCallExecutor } from './operator-approval';

/**
 * The calls an approval can execute, each through its service's generated client (typed request,
 * response and error codes): the approved request is decoded from its bytes and sent as a call of
 * this service, which the internal listener does not hold for approval again.
 */
export function approvedCallExecutor(clients: InternalClients): { execute: ApprovedCallExecutor; executable: ReadonlySet<string> } {
  const calls: Record<string, (request: Uint8Array) => Promise<unknown>> = {
    [LedgerServiceClient.service.deposit.path]: (r) =>
      unaryCall(clients.get(LedgerServiceClient), 'deposit', DepositRequest.decode(r), {
        errors: apiErrorType(DepositApiError, DepositApiError_ErrorCode),
      }),
    [UserAccountServiceClient.service.updateUserStatus.path]: (r) =>
      unaryCall(clients.get(UserAccountServiceClient), 'updateUserStatus', UpdateUserStatusRequest.decode(r), {
        errors: apiErrorType(UpdateUserStatusApiError, UpdateUserStatusApiError_ErrorCode),
      }),
    [CredentialServiceClient.service.unlockUser.path]: (r) =>
      unaryCall(clients.get(CredentialServiceClient), 'unlockUser', UnlockUserRequest.decode(r), {
        errors: apiErrorType(UnlockUserApiError, UnlockUserApiError_ErrorCode),
      }),
  };
  return {
    executable: new Set(Object.keys(calls)),
    async execute(method, request) {
      const call = calls[method];
      if (!call) throw new Error(`${method} is not approvable`);
      try {
        await call(request);
        return 'OK';
      } catch (err) {
        if (err instanceof UpstreamUnavailableError) throw err;
        if (err instanceof UpstreamRefusal) return `REFUSED:${err.code}`;
        const code = (err as { code?: unknown }).code;
        if (typeof code === 'number') return grpc.status[code] ?? 'UNKNOWN';
        throw err;
      }
    },
  };
}

import { DomainError } from '@kfrm/errors';
import { MembershipServiceService, WithdrawalApiError, WithdrawalApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/user/membership';
import { apiErrorType, defineService, raises, type CallContext } from '@kfrm/server-kit';
import type { Withdrawal, WithdrawalCode } from './withdrawal';

function sessionUser(ctx: CallContext): bigint {
  const userId = ctx.principal.session?.userId;
  // The guard guarantees a session at this level; without one nothing is anyone's.
  if (!userId) throw new DomainError('UNAUTHENTICATED_USER', 'client certificate or session is not valid');
  return BigInt(userId);
}

/** MembershipService (extension) on the mobile listener: protobuf ⇄ domain only. */
export function membershipHandlers(withdrawal: Withdrawal) {
  const errors = apiErrorType(WithdrawalApiError, WithdrawalApiError_ErrorCode);
  return defineService(
    MembershipServiceService,
    {
      async prepareWithdrawal(_request, ctx) {
        return { process: await withdrawal.prepareWithdrawal(sessionUser(ctx)) };
      },
      async withdraw(request, ctx) {
        const { withdrawnAt } = await withdrawal.withdraw(sessionUser(ctx), request.authenticationProcessId);
        return { success: true, withdrawnAt: withdrawnAt.toISOString() };
      },
    },
    {
      prepareWithdrawal: { access: 'session', idempotent: true, errors, raises: raises<WithdrawalCode>() },
      withdraw: { access: 'session', idempotent: true, errors, raises: raises<WithdrawalCode>() },
    },
  );
}

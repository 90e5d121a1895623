// Operator CLI: unlocks a user that repeated wrong PINs (or patterns) BLOCKED, through the
// internal CredentialService.UnlockUser: clears the credentials' failure counters and locks, then
// BLOCKED → ACTIVATED. Run it only after the person's identity was verified again outside the
// system (branch, call centre): the service cannot check that and trusts its internal caller.
//
//   tsx services/auth/src/unlock-cli.ts <user-id> <reason...>
//
// The target is KFRM_INTERNAL_TARGET_AUTH, else KFRM_INTERNAL_TARGET, else 127.0.0.1:50052 (the
// default internal listener). Running it again is safe: an ACTIVATED user only gets the
// credentials cleared. The device the block revoked stays revoked: the app moves the user to a
// new device certificate with the device-change flow. UnlockUser wants the support role: the CLI
// sends KFRM_OPERATOR_TOKEN, else mints one with the embedded default's local issuer in
// KFRM_DATA_DIR (docs/operators.md).
import type * as grpc from '@grpc/grpc-js';
import { UpstreamRefusal, UpstreamUnavailableError } from '@kfrm/errors';
import { CredentialServiceClient, UnlockUserApiError, UnlockUserApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { findOperatorToken, internalToolCredentials, operatorTokenInterceptor, unaryCall } from '@kfrm/runtime';
import { APPROVAL_ID_TRAILER, apiErrorType } from '@kfrm/server-kit';

const unlockErrors = apiErrorType(UnlockUserApiError, UnlockUserApiError_ErrorCode);

const USAGE = 'usage: unlock-cli <user-id> <reason...>';

/**
 * Runs the CLI; returns the process exit code (0 unlocked or already unlocked, 1 refused, 2 usage,
 * 3 waiting for a second operator's approval: an operator's unlock always does, docs/operators.md).
 */
export async function runUnlockCli(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const [userIdText, ...reasonWords] = argv;
  const reason = reasonWords.join(' ').trim();
  if (!userIdText || !/^[1-9][0-9]{0,19}$/.test(userIdText) || BigInt(userIdText) > 0xffff_ffff_ffff_ffffn || reason === '') {
    console.error(USAGE);
    return 2;
  }
  const userId = BigInt(userIdText);
  const target = env.KFRM_INTERNAL_TARGET_AUTH || env.KFRM_INTERNAL_TARGET || '127.0.0.1:50052';
  let token: string;
  try {
    token = await findOperatorToken({ env, roles: ['support'], subject: 'unlock-cli' });
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const client = new CredentialServiceClient(target, internalToolCredentials(env), {
    interceptors: [operatorTokenInterceptor(token)],
  });
  try {
    const response = await unaryCall(client, 'unlockUser', { userId, reason }, { errors: unlockErrors, timeoutMs: 15_000 });
    console.log(
      JSON.stringify({ userId: userId.toString(), userStatus: UserStatus[response.userStatus], statusChanged: response.statusChanged }),
    );
    return 0;
  } catch (err) {
    const approvalId = (err as grpc.ServiceError).metadata?.get(APPROVAL_ID_TRAILER)[0];
    if (typeof approvalId === 'string') {
      // Maker-checker: a second operator approves it (OperatorApprovalService/Approve).
      console.log(JSON.stringify({ userId: userId.toString(), approvalId, status: 'PENDING_APPROVAL' }));
      return 3;
    }
    const cause = err instanceof UpstreamRefusal || err instanceof UpstreamUnavailableError ? err.cause : err;
    const name = err instanceof UpstreamRefusal ? err.code : undefined;
    console.error(`unlock failed: ${(cause as grpc.ServiceError).code ?? ''} ${name ?? ''} ${(cause as Error).message}`);
    return 1;
  } finally {
    client.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runUnlockCli(process.argv.slice(2));
}

// Operator CLI: credits a customer account from outside (the external-settlement account)
// through the internal LedgerService.Deposit, so a new installation can be funded.
//
//   tsx services/account/src/deposit-cli.ts <account-number> <amount> <idempotency-key> [memo] [--currency KRW|USD|THB]
//
// <amount> is a decimal in major units ("50000" won, "12.34" dollars). The target is
// KFRM_INTERNAL_TARGET_ACCOUNT, else KFRM_INTERNAL_TARGET, else 127.0.0.1:50052 (the default
// internal listener). Running it again with the same key deposits nothing more and prints the
// first result. Deposit is a teller's act: the CLI sends KFRM_OPERATOR_TOKEN (compose and
// Kubernetes: a token from the identity provider), else mints one with the embedded default's
// local issuer in KFRM_DATA_DIR (docs/operators.md).
import type * as grpc from '@grpc/grpc-js';
import { UpstreamRefusal, UpstreamUnavailableError } from '@kfrm/errors';
import { DepositApiError, DepositApiError_ErrorCode, LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { findOperatorToken, internalToolCredentials, operatorTokenInterceptor, unaryCall } from '@kfrm/runtime';
import { APPROVAL_ID_TRAILER, apiErrorType } from '@kfrm/server-kit';

const depositErrors = apiErrorType(DepositApiError, DepositApiError_ErrorCode);

const USAGE = 'usage: deposit-cli <account-number> <amount> <idempotency-key> [memo] [--currency KRW|USD|THB]';

/** "12.34" → major 12, minor 34 (KRW: no fraction). Exact string parsing: no floats. */
export function parseAmount(text: string, currency: 'KRW' | 'USD' | 'THB'): { majorAmount: bigint; minorAmount: bigint } {
  const decimals = currency === 'KRW' ? 0 : 2;
  const match = /^(\d{1,19})(?:\.(\d+))?$/.exec(text);
  if (!match) throw new Error(`amount must be a non-negative decimal: ${text}`);
  const fraction = match[2] ?? '';
  if (fraction.length > decimals) throw new Error(`${currency} amounts have ${decimals} decimal places`);
  return { majorAmount: BigInt(match[1]!), minorAmount: BigInt(fraction.padEnd(decimals, '0') || '0') };
}

/** Runs the CLI; returns the process exit code (0 deposited or replayed, 1 refused, 2 usage, 3 waiting for approval). */
export async function runDepositCli(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const args = [...argv];
  let currency: 'KRW' | 'USD' | 'THB' = 'KRW';
  const flag = args.indexOf('--currency');
  if (flag >= 0) {
    const value = args[flag + 1];
    if (value !== 'KRW' && value !== 'USD' && value !== 'THB') {
      console.error(USAGE);
      return 2;
    }
    currency = value;
    args.splice(flag, 2);
  }
  const [accountNumber, amountText, idempotencyKey, memo = 'operator deposit'] = args;
  if (!accountNumber || !amountText || !idempotencyKey) {
    console.error(USAGE);
    return 2;
  }
  let parsed: { majorAmount: bigint; minorAmount: bigint };
  try {
    parsed = parseAmount(amountText, currency);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const amount = { currencyCode: CurrencyCode[currency], ...parsed };
  const target = env.KFRM_INTERNAL_TARGET_ACCOUNT || env.KFRM_INTERNAL_TARGET || '127.0.0.1:50052';
  let token: string;
  try {
    token = await findOperatorToken({ env, roles: ['teller'], subject: 'deposit-cli' });
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const client = new LedgerServiceClient(target, internalToolCredentials(env), { interceptors: [operatorTokenInterceptor(token)] });
  try {
    const response = await unaryCall(
      client,
      'deposit',
      { idempotencyKey, accountNumber, amount, memo, events: [] },
      { errors: depositErrors, timeoutMs: 15_000 },
    );
    const balance = response.balanceAfter!;
    console.log(
      JSON.stringify({
        entryId: response.entryId.toString(),
        postedAt: response.postedAt,
        balanceAfter: { currency, major: balance.majorAmount.toString(), minor: balance.minorAmount.toString() },
      }),
    );
    return 0;
  } catch (err) {
    const approvalId = (err as grpc.ServiceError).metadata?.get(APPROVAL_ID_TRAILER)[0];
    if (typeof approvalId === 'string') {
      // Maker-checker: above the threshold a second operator approves it (OperatorApprovalService/Approve).
      console.log(JSON.stringify({ approvalId, status: 'PENDING_APPROVAL' }));
      return 3;
    }
    const cause = err instanceof UpstreamRefusal || err instanceof UpstreamUnavailableError ? err.cause : err;
    const name = err instanceof UpstreamRefusal ? err.code : undefined;
    console.error(`deposit failed: ${(cause as grpc.ServiceError).code ?? ''} ${name ?? ''} ${(cause as Error).message}`);
    return 1;
  } finally {
    client.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runDepositCli(process.argv.slice(2));
}

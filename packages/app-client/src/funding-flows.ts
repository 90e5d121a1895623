/**
 * Linking a bank account as the app does it (FundingService): holder verification, then ARS
 * registration — the app shows the code while Konaplate calls the phone, and polls until the
 * account is registered — before the kakaoCert consent.
 */
import {
  ArsVerificationState,
  type ArsVerification,
  type FundingServiceClient,
  type LinkedAccount,
} from '@kfrm/proto/gen/kfrm/api/funding/funding';
import { unary, type CallOptions } from './unary';

export interface ArsOptions {
  /** Called once with the code to show (the user keys it in on the ARS call). */
  onCode?: (authCode: string, verification: ArsVerification) => void;
  /** How often GetArsVerification is asked; 2 s by default (the service asks Konaplate each time). */
  pollMs?: number;
  /** Gives up after this long; 3 minutes by default (the code's validity). */
  timeoutMs?: number;
}

/** Why a registration by ARS did not complete: its final state and reason. */
export class ArsVerificationFailedError extends Error {
  constructor(
    readonly state: ArsVerificationState,
    readonly failureReason: string,
  ) {
    super(`ARS verification ended ${ArsVerificationState[state]}${failureReason ? ` (${failureReason})` : ''}`);
    this.name = 'ArsVerificationFailedError';
  }
}

/**
 * StartArsVerification → show the code → GetArsVerification until REGISTERED. Returns the linked
 * account with its ars_verified_at; a FAILED or EXPIRED attempt throws ArsVerificationFailedError
 * (start again), a gRPC error is passed on (a repeated Start resumes the same attempt).
 */
export async function registerAccountByArs(
  funding: FundingServiceClient,
  account: { bankCode: string; accountNumber: string },
  auth: CallOptions,
  options: ArsOptions = {},
): Promise<{ verification: ArsVerification; linkedAccount: LinkedAccount }> {
  const pollMs = options.pollMs ?? 2_000;
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  let { arsVerification: current } = await unary(funding, funding.startArsVerification, account, auth);
  let shown = false;
  for (;;) {
    if (!shown && current!.authCode) {
      shown = true;
      options.onCode?.(current!.authCode, current!);
    }
    if (current!.state === ArsVerificationState.ARS_FAILED || current!.state === ArsVerificationState.ARS_EXPIRED) {
      throw new ArsVerificationFailedError(current!.state, current!.failureReason);
    }
    if (Date.now() > deadline) throw new ArsVerificationFailedError(current!.state, 'TIMED_OUT_WAITING');
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    const polled = await unary(funding, funding.getArsVerification, { arsVerificationId: current!.arsVerificationId }, auth);
    current = polled.arsVerification;
    if (current!.state === ArsVerificationState.ARS_REGISTERED) return { verification: current!, linkedAccount: polled.linkedAccount! };
  }
}

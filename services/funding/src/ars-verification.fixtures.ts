/**
 * Tests only: runs the ARS step against the Konaplate sandbox for an account whose holder was
 * verified, the sandbox's member keying in the right code, so tests about later steps (consent,
 * top-up) go through the same linking flow as the app.
 */
import type { KonaplateSandbox } from '@kfrm/konaplate/sandbox/index';
import type { Funding } from './funding';

export async function registerByArs(
  funding: Pick<Funding, 'startArsVerification' | 'getArsVerification'>,
  sandbox: KonaplateSandbox,
  userId: string,
  bankCode: string,
  accountNumber: string,
): Promise<void> {
  const started = await funding.startArsVerification(userId, bankCode, accountNumber);
  const registration = [...sandbox.arsRegistrations.values()].find(
    (r) => r.authCode === started.authCode && r.status === 'CALLING' && r.bankAccount === accountNumber,
  );
  if (!registration) throw new Error(`no ARS call is ringing for ${started.id} (${started.state})`);
  sandbox.answerArsCall(registration.regTranId, started.authCode!);
  const { verification } = await funding.getArsVerification(userId, started.id);
  if (verification.state !== 'REGISTERED') throw new Error(`ARS verification ended ${verification.state}`);
}

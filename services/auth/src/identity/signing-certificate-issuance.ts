import { createVerificationToken, issueSigningCertificate, type parseSigningCsr } from '@kfrm/pki';
import type { IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';

type SigningCsr = Awaited<ReturnType<typeof parseSigningCsr>>;

/**
 * Issues a signing certificate for the CSR and stores it pending, with the verification token the
 * phone must sign before it becomes active. Shared by sign-up's issuance and the reissue after a
 * device change, so both keep the same validity and token lifetime. A bad CSR or a CA failure
 * throws the pki's SigningError; each caller maps it to its own error codes.
 */
export async function issuePendingSigningCertificate(
  deps: Pick<IdentityDeps, 'db' | 'signingCa' | 'settings'>,
  userId: bigint,
  csr: SigningCsr,
  now: Date,
) {
  const { settings } = deps;
  const issued = await issueSigningCertificate({
    csr,
    ca: deps.signingCa,
    userId: String(userId),
    validityDays: settings.signingValidityDays,
    now,
  });
  const verificationToken = createVerificationToken();
  await repo.insertPendingCertificate(deps.db, {
    userId,
    serialNumber: issued.serialNumber,
    der: issued.der,
    notAfter: issued.notAfter,
    verificationToken,
    tokenExpiresAt: new Date(now.getTime() + settings.signingTokenTtlMs),
  });
  return { certificate: issued.base64, serialNumber: issued.serialNumber, verificationToken };
}

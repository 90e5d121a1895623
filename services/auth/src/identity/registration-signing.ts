import { failWith } from '@kfrm/errors';
import { parseSigningCsr, SigningError, type SigningSeedCode, verifySignedData } from '@kfrm/pki';
import { throttle, type IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import { issuePendingSigningCertificate } from './signing-certificate-issuance';
import { openRegistration, type RegistrationAccessCode, requireAgreed, type RegistrationAccessDeps } from './registration-access';

/** A SigningError's code passes through as is (SigningSeedCode, the pki's whole set). */
export type IssueSigningCertificateCode = RegistrationAccessCode | SigningSeedCode;
export type VerifySigningCertificateCode =
  | RegistrationAccessCode
  | 'SIGNING_CERTIFICATE_NOT_FOUND'
  | 'SIGNING_CERTIFICATE_VERIFICATION_FAILED';

const verifyFailed = failWith<VerifySigningCertificateCode>();

const HOUR_MS = 60 * 60_000;

export type RegistrationSigningDeps = RegistrationAccessDeps &
  Pick<IdentityDeps, 'store' | 'signingCa' | 'signingCertificates' | 'logger' | 'settings'>;

/** IssueSigningCertificate: the certificate is stored pending, with a verification token to sign. */
export async function issueUserSigningCertificate(deps: RegistrationSigningDeps, userToken: string, deviceId: bigint, csrText: string) {
  const { settings } = deps;
  const { user, userId } = await openRegistration(deps, userToken, deviceId);
  requireAgreed(user);
  await throttle(deps.store, `cert-issue:device:${deviceId}`, settings.certificatesPerDeviceHour, HOUR_MS);
  const now = deps.now();
  try {
    const csr = await parseSigningCsr(csrText);
    const issued = await issuePendingSigningCertificate(deps, userId, csr, now);
    deps.logger.info({ user_id: String(userId), serial: issued.serialNumber }, 'signing certificate issued (pending)');
    return { certificate: issued.certificate, verificationToken: issued.verificationToken, createdAt: now };
  } catch (err) {
    if (err instanceof SigningError) {
      deps.logger.info({ reason: err.reason }, 'signing certificate refused');
      throw failWith<IssueSigningCertificateCode>()(
        err.seedCode,
        err.seedCode === 'INVALID_SIGNING_CSR' ? 'the CSR is not valid' : 'the signing certificate could not be issued',
        { cause: err },
      );
    }
    throw err;
  }
}

/** VerifySigningCertificate: a valid signature over the token makes the certificate the only active one. */
export async function verifyUserSigningCertificate(deps: RegistrationSigningDeps, userToken: string, deviceId: bigint, signedData: string) {
  const { db } = deps;
  const { userId } = await openRegistration(deps, userToken, deviceId);
  const now = deps.now();
  // Taken once: a failed (or replayed) signature needs a new certificate and token.
  const pending = await repo.takeVerificationToken(db, userId, now);
  if (!pending) throw verifyFailed('SIGNING_CERTIFICATE_NOT_FOUND', 'no signing certificate is waiting for verification');
  const result = await verifySignedData({
    signedData,
    expectedContent: Buffer.from(pending.verificationToken, 'utf8'),
    trustedSigner: pending.der,
    signingCa: deps.signingCa.cert,
    now,
  });
  if (!result.ok) {
    deps.logger.info({ detail: result.detail }, 'signing certificate verification refused');
    throw verifyFailed('SIGNING_CERTIFICATE_VERIFICATION_FAILED', 'the signature over the verification token is not valid');
  }
  await deps.signingCertificates.whileChanging(userId, () =>
    db.transaction().execute((tx) => repo.activateCertificate(tx, userId, pending.id, now)),
  );
}

import { failWith, isDomainError } from '@kfrm/errors';
import { parseSigningCsr, SigningError, type SigningSeedCode, verifySignedData } from '@kfrm/pki';
import { AuthenticatedTransactionType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { authenticationFailed } from './authentication';
import { verifyDeviceProof } from './device-proof';
import { throttle, type IdentityDeps } from './identity-deps';
import * as repo from './identity.repository';
import { issuePendingSigningCertificate } from './signing-certificate-issuance';
import type { DirectoryCode } from './user-directory';

export type PrepareReissueCode = DirectoryCode['createProcess'];
/** ConsumeProcess's refusals and a bad device proof become AUTHENTICATION_FAILED. */
export type ReissueCode = 'AUTHENTICATION_FAILED' | Exclude<SigningSeedCode, 'SIGNING_CERTIFICATE_VERIFICATION_FAILED'>;
export type VerifyReissuedCode = 'SIGNING_CERTIFICATE_NOT_FOUND' | 'SIGNING_CERTIFICATE_VERIFICATION_FAILED';

const HOUR_MS = 60 * 60_000;
const REISSUE = AuthenticatedTransactionType.REISSUE_SIGNING_CERTIFICATE;

/**
 * The process is bound to the device that prepared it: its context names the device, and
 * ConsumeProcess wants the context byte for byte, so a process passed to another phone is useless.
 */
const contextOf = (deviceId: bigint) => JSON.stringify({ device_id: String(deviceId) });

/**
 * A new signing certificate for a logged-in customer on the bound device, after a device change
 * (ChangeDevice revoked the old one: its key stayed on the old phone) or before the current one
 * expires. Step-up: a DONE REISSUE_SIGNING_CERTIFICATE process (PIN, by policy) plus a device
 * proof over the process id. Like sign-up it is two steps: the certificate is pending until a
 * PKCS#7 signature over its verification token activates it, and activation revokes every other
 * certificate of the user, so the transfer's PKCS#7 check refuses the old one from then on.
 */
export function createSigningReissue(deps: IdentityDeps) {
  const { db, users, settings } = deps;
  const fail = failWith<ReissueCode>();
  const verifyFailed = failWith<VerifyReissuedCode>();

  return {
    prepare: (userId: bigint, deviceId: bigint) => users.createProcess(userId, REISSUE, contextOf(deviceId)),

    async reissue(input: {
      userId: bigint;
      deviceId: bigint;
      certificateDer: Uint8Array;
      processId: string;
      csr: string;
      deviceSignature: string;
    }) {
      const { userId, deviceId } = input;
      await throttle(deps.store, `cert-issue:device:${deviceId}`, settings.certificatesPerDeviceHour, HOUR_MS);
      if (!verifyDeviceProof(input.certificateDer, input.processId, input.deviceSignature)) {
        deps.logger.info({ user_id: String(userId) }, 'signing certificate reissue refused: device proof');
        throw authenticationFailed();
      }
      // Checked before the process is spent: a bad CSR costs no authentication.
      let csr: Awaited<ReturnType<typeof parseSigningCsr>>;
      try {
        csr = await parseSigningCsr(input.csr);
      } catch (err) {
        if (err instanceof SigningError) throw fail('INVALID_SIGNING_CSR', 'the CSR is not valid', { cause: err });
        throw err;
      }
      try {
        await users.consumeProcess(input.processId, userId, REISSUE, contextOf(deviceId));
      } catch (err) {
        if (isDomainError(err, 'AUTHENTICATION_PROCESS_NOT_FOUND', 'AUTHENTICATION_FAILED')) throw authenticationFailed();
        throw err;
      }
      const now = deps.now();
      try {
        const issued = await issuePendingSigningCertificate(deps, userId, csr, now);
        deps.logger.info({ user_id: String(userId), serial: issued.serialNumber }, 'signing certificate reissued (pending)');
        return { certificate: issued.certificate, verificationToken: issued.verificationToken, createdAt: now };
      } catch (err) {
        if (err instanceof SigningError) {
          deps.logger.info({ reason: err.reason }, 'signing certificate reissue refused');
          throw fail(
            err.seedCode === 'INVALID_SIGNING_CSR' ? 'INVALID_SIGNING_CSR' : 'SIGNING_CERTIFICATE_ISSUANCE_FAILED',
            'the signing certificate could not be issued',
            { cause: err },
          );
        }
        throw err;
      }
    },

    async verify(userId: bigint, signedData: string) {
      const now = deps.now();
      // Taken once: a failed (or replayed) signature needs a new reissue.
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
        deps.logger.info({ detail: result.detail }, 'reissued signing certificate verification refused');
        throw verifyFailed('SIGNING_CERTIFICATE_VERIFICATION_FAILED', 'the signature over the verification token is not valid');
      }
      await deps.signingCertificates.whileChanging(userId, () =>
        db.transaction().execute((tx) => repo.activateCertificate(tx, userId, pending.id, now)),
      );
      deps.logger.info({ user_id: String(userId) }, 'reissued signing certificate active; the others revoked');
    },
  };
}

export type SigningReissue = ReturnType<typeof createSigningReissue>;

/** The consent errors the consent steps share, so each code keeps one message wherever it is thrown. */
import { DomainError, type SeedCode } from '@kfrm/errors';

const consentError = (code: SeedCode, message: string, cause?: unknown) =>
  new DomainError(code, message, cause === undefined ? undefined : { cause });
export const NOT_FOUND = () => consentError('CONSENT_NOT_FOUND', 'The consent was not found.');
export const NOT_SIGNED = () => consentError('CONSENT_NOT_SIGNED', 'The consent has not been signed yet.');
export const EXPIRED = () => consentError('CONSENT_EXPIRED', 'The consent expired before it was signed; request a new one.');
export const REQUEST_FAILED = () => consentError('CONSENT_REQUEST_FAILED', 'The consent request failed; request a new one.');
export const IN_PROGRESS = () => consentError('CONSENT_VERIFICATION_IN_PROGRESS', 'The consent is being confirmed; try again shortly.');
export const EVIDENCE_LOST = () => consentError('CONSENT_EVIDENCE_LOST', 'The signed consent could not be retrieved; request a new one.');

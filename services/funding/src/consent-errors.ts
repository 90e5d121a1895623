/** The consent errors the consent steps share, so each code keeps one message wherever it is thrown. */
import { DomainError, type SeedCode } from '@kfrm/errors';

export type ConsentErrorCode =
  | 'CONSENT_NOT_FOUND'
  | 'CONSENT_NOT_SIGNED'
  | 'CONSENT_EXPIRED'
  | 'CONSENT_REQUEST_FAILED'
  | 'CONSENT_VERIFICATION_IN_PROGRESS'
  | 'CONSENT_EVIDENCE_LOST'
  | 'CONSENT_EVIDENCE_INVALID';

const MESSAGES: Record<ConsentErrorCode, string> = {
  CONSENT_NOT_FOUND: 'The consent was not found.',
  CONSENT_NOT_SIGNED: 'The consent has not been signed yet.',
  CONSENT_EXPIRED: 'The consent expired before it was signed; request a new one.',
  CONSENT_REQUEST_FAILED: 'The consent request failed; request a new one.',
  CONSENT_VERIFICATION_IN_PROGRESS: 'The consent is being confirmed; try again shortly.',
  CONSENT_EVIDENCE_LOST: 'The signed consent could not be retrieved; request a new one.',
  CONSENT_EVIDENCE_INVALID: 'The signed consent is not a valid signature of this consent; request a new one.',
};

/** A consent error maker bound to one use case's codes (like `failWith`), with this table's messages. */
export function consentErrorsOf<Declared extends SeedCode>() {
  return (code: Extract<Declared, ConsentErrorCode>) => new DomainError(code, MESSAGES[code]);
}

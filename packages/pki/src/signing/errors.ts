/**
 * Seed error codes the signing-certificate steps map to. The library throws (or returns) these so
 * the auth service can pass them straight to `DomainError`; `reason` is an internal detail for
 * logs and tests and must never be shown to the client (it would tell an attacker which check
 * their forgery tripped).
 */
export type SigningSeedCode = 'INVALID_SIGNING_CSR' | 'SIGNING_CERTIFICATE_ISSUANCE_FAILED' | 'SIGNING_CERTIFICATE_VERIFICATION_FAILED';

/** Why a CSR was refused (internal detail; the outward code is always INVALID_SIGNING_CSR). */
export type CsrRejection =
  | 'empty'
  | 'too-large'
  | 'not-base64'
  | 'malformed-der'
  | 'too-deep'
  | 'not-a-csr'
  | 'unsupported-version'
  | 'unsupported-signature-algorithm'
  | 'bad-signature'
  | 'unsupported-key-type'
  | 'unsupported-curve'
  | 'invalid-ec-point'
  | 'unsupported-rsa-size'
  | 'unsupported-rsa-exponent'
  | 'invalid-rsa-key';

/** Why issuance failed (internal detail; outward SIGNING_CERTIFICATE_ISSUANCE_FAILED). */
export type IssuanceFailure =
  | 'invalid-user-id'
  | 'invalid-validity'
  | 'ca-not-a-ca'
  | 'ca-not-valid-now'
  | 'ca-expires-too-soon'
  | 'unsupported-ca-key'
  | 'unsupported-key-type'
  | 'unsupported-curve'
  | 'invalid-ec-point'
  | 'unsupported-rsa-size'
  | 'unsupported-rsa-exponent'
  | 'invalid-rsa-key'
  | 'signing-failed';

export class SigningError extends Error {
  override readonly name = 'SigningError';
  constructor(
    readonly seedCode: SigningSeedCode,
    readonly reason: CsrRejection | IssuanceFailure,
    options?: { cause?: unknown },
  ) {
    super(`${seedCode}: ${reason}`, options);
  }
}

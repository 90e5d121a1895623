export { parseSigningCsr, createCsr, MAX_CSR_INPUT_LENGTH, type SigningCsr, type CreateCsrOptions } from './csr';
export {
  issueSigningCertificate,
  createVerificationToken,
  SIGNING_CERTIFICATE_EKU,
  MAX_SIGNING_VALIDITY_DAYS,
  type SigningCa,
  type IssueSigningCertificateParams,
  type IssuedSigningCertificate,
} from './issue';
export {
  signData,
  verifySignedData,
  embeddedSignerCertificate,
  MAX_SIGNED_DATA_BASE64_LENGTH,
  type SignDataParams,
  type VerifySignedDataParams,
  type SignedDataVerification,
  type SignedDataRejection,
} from './cms';
export { createSigningCa, ensureDevSigningCa, loadSigningCa, type SigningCaFiles } from './signing-ca';
export { SigningError, type SigningSeedCode, type CsrRejection, type IssuanceFailure } from './errors';
export type { HashName, KeyKind } from './algorithms';

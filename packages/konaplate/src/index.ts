export * from './konaplate-client';
export * from './errors';
export * from './result-codes';
export * from './validation';
export * from './bank-codes';
export * from './money-movement';
export * from './ars-registration';
export {
  buildSignedHeaders,
  computeTranToken,
  createCorrelationId,
  formatTranTime,
  isCorrelationId,
  parseTranToken,
  HEADER,
  HEADER_LENGTH,
  type Credentials,
  type KonaplateTimeZone,
  type TranTokenForm,
} from './headers';
export {
  createJweFieldCipher,
  CipherError,
  type FieldCipher,
  type JweFieldCipherOptions,
  type KeyMaterial,
  type ContentEncryption,
  type KeyWrapAlgorithm,
} from './cipher';
export { maskBirthDate } from './log-fields';

// The transfer's canonical bytes moved to the app SDK (transfer-flows.ts), which signs them for
// every flow; kept here under the old name for the demo and its test vector.
export { canonicalTransferBytes, type SignedTransfer } from '@kfrm/app-client';

/** The biometric challenge the app signs with its registered key (services/auth README). */
export const biometricChallenge = (processId: string): Uint8Array => new TextEncoder().encode(`kfrm-biometric-v1:${processId}`);

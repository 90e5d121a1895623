export * from './sandbox-server';
export { SANDBOX_ERRORS, type SandboxErrorName } from './sandbox-error-codes';
export { SANDBOX_EVIDENCE_MARKER, OID_SIGNED_DATA, OID_DATA } from './sandbox-signed-data';
export { readDer, decodeObjectIdentifier, type DerNode } from './der';
export type { SandboxClient, SandboxReceipt } from './cms-state-machine';

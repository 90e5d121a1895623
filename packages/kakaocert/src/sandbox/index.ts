export * from './sandbox-server';
export { SANDBOX_ERRORS, type SandboxErrorName } from './sandbox-error-codes';
export { readDer, decodeObjectIdentifier, type DerNode } from './der';
export type { SandboxClient, SandboxReceipt } from './cms-state-machine';

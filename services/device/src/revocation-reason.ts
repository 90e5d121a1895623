/** Why a device certificate stopped counting; stored in devices.revocation_reason. */
export type RevocationReason = 'DEVICE_CHANGED' | 'USER_BLOCKED' | 'COMPROMISED';
export const REVOCATION_REASONS: readonly RevocationReason[] = ['DEVICE_CHANGED', 'USER_BLOCKED', 'COMPROMISED'];

import type { UserStatusName } from './user.table';

/**
 * The user life cycle. CREATED → AGREED → ACTIVATED is registration; BLOCKED can be reached
 * from any live status (too many failed attempts, an operator) and left only to ACTIVATED by the
 * unlock flow (`unlock`, after the identity was verified again); DEACTIVATED is the end.
 * BLOCKED → BLOCKED is accepted: it re-runs the blocking side effects (sessions, device) when a
 * first call failed half-way.
 */
export function isAllowedTransition(from: UserStatusName, to: UserStatusName, unlock: boolean): boolean {
  switch (to) {
    case 'AGREED':
      return from === 'CREATED';
    case 'ACTIVATED':
      return from === 'AGREED' || (from === 'BLOCKED' && unlock);
    case 'BLOCKED':
      return from !== 'DEACTIVATED';
    case 'DEACTIVATED':
      return from !== 'DEACTIVATED';
    default:
      return false;
  }
}

/** A registration still in progress: replaced when the same identity registers again. */
export function isLeftoverRegistration(status: UserStatusName): boolean {
  return status === 'CREATED' || status === 'AGREED';
}

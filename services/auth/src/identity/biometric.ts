import { openEncryptedText } from '@kfrm/e2e-crypto';
import { AuthenticatedTransactionType, type EncryptedMessage } from '@kfrm/proto/gen/kfrm/api/common/common';
import { parseBiometricPublicKey } from './biometric-key';
import type { E2eCode, IdentityDeps } from './identity-deps';

/** Processes without a transaction context are created and consumed with exactly this. */
const NO_CONTEXT = '{}';
import * as repo from './identity.repository';
import type { DirectoryCode } from './user-directory';

export type PrepareBiometricCode = DirectoryCode['createProcess'];
export type ActivateBiometricCode = E2eCode | DirectoryCode['consumeProcess'];
export type DeactivateBiometricCode = DirectoryCode['consumeProcess'];

/** Turning biometric authentication on and off for a logged-in user, each behind a process. */
export function createBiometric(deps: IdentityDeps) {
  const { db, users } = deps;
  return {
    prepareActivate: (userId: bigint) => users.createProcess(userId, AuthenticatedTransactionType.ACTIVATE_BIOMETRIC, NO_CONTEXT),
    prepareDeactivate: (userId: bigint) => users.createProcess(userId, AuthenticatedTransactionType.DEACTIVATE_BIOMETRIC, NO_CONTEXT),

    async activate(userId: bigint, deviceId: bigint, processId: string, publicKey: EncryptedMessage | undefined) {
      // The key is checked before the process is used up, so a bad key costs no authentication.
      const spki = parseBiometricPublicKey(await openEncryptedText(deps.e2e, publicKey, 'AUTH'));
      await users.consumeProcess(processId, userId, AuthenticatedTransactionType.ACTIVATE_BIOMETRIC, NO_CONTEXT);
      await repo.saveBiometricKey(db, userId, deviceId, spki);
    },

    async deactivate(userId: bigint, processId: string) {
      await users.consumeProcess(processId, userId, AuthenticatedTransactionType.DEACTIVATE_BIOMETRIC, NO_CONTEXT);
      await repo.disableBiometricKey(db, userId);
    },
  };
}

export type Biometric = ReturnType<typeof createBiometric>;

import { EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';

/**
 * The parties an app encrypts for (`EncryptedMessage.ProviderType` without UNKNOWN). A key
 * session belongs to exactly one, and the name travels in the JWE header as `kfrm_provider`.
 */
export type E2eProvider = 'AUTH' | 'BANKING';

export const E2E_PROVIDERS: readonly E2eProvider[] = ['AUTH', 'BANKING'];

/** The provider for a wire enum value; undefined for UNKNOWN and for numbers the contract does not define. */
export function providerFromType(type: number): E2eProvider | undefined {
  switch (type) {
    case EncryptedMessage_ProviderType.AUTH:
      return 'AUTH';
    case EncryptedMessage_ProviderType.BANKING:
      return 'BANKING';
    default:
      return undefined;
  }
}

export function providerType(provider: E2eProvider): EncryptedMessage_ProviderType {
  return provider === 'AUTH' ? EncryptedMessage_ProviderType.AUTH : EncryptedMessage_ProviderType.BANKING;
}

export function isE2eProvider(value: unknown): value is E2eProvider {
  return value === 'AUTH' || value === 'BANKING';
}

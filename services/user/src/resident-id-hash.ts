import type { KeyEncryptionKey } from '@kfrm/e2e-crypto';

/**
 * One member per resident registration number, without opening every sealed value: each sealed
 * resident id is stored with HMAC-SHA256(resident id hash key, normalised number), hex, under a
 * unique index. The hash key (KFRM_USER_RESIDENT_ID_HASH_KEY_FILE) is not the sealing key: the
 * hash column alone, or with the sealing key, does not give the number back without it, and
 * 13 digits with a birth date are far too few to keep an unkeyed hash secret.
 */
export interface ResidentIdHasher {
  hash(residentId: string): string;
}

/** The digits only (YYMMDD-NNNNNNN and YYMMDDNNNNNNN are the same number). */
export function normaliseResidentId(residentId: string): string {
  return residentId.replace(/[^0-9]/g, '');
}

export function createResidentIdHasher(key: KeyEncryptionKey): ResidentIdHasher {
  return {
    hash(residentId) {
      return key.mac(Buffer.from(`kfrm-resident-id-hash-v1|${normaliseResidentId(residentId)}`, 'utf8')).toString('hex');
    },
  };
}

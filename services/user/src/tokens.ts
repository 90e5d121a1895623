import { createHash, randomBytes } from 'node:crypto';

/** 256 random bits as base64url (43 characters): user, session and refresh tokens. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/** 128 random bits as base64url (22 characters): authentication process ids. */
export function newProcessId(): string {
  return randomBytes(16).toString('base64url');
}

/** 96 random bits as base64url: refresh-token family ids, shown only to their own user as session ids (ListSessions). */
export function newFamilyId(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * What is stored for a token: hex SHA-256. The tokens are 256-bit random values, so a fast hash
 * is enough (nothing to brute-force), and lookups by hash stay one index probe.
 */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A customer (CIF) number: 'C' and 12 random digits. Uniqueness is the table's job (retry). */
export function newCustomerId(): string {
  // 8 random bytes → an integer far above 10^12, so the modulo bias is negligible (< 10^-7).
  const n = randomBytes(8).readBigUInt64BE() % 1_000_000_000_000n;
  return `C${n.toString().padStart(12, '0')}`;
}

/**
 * Masked forms of the personal fields this package handles, applied before anything reaches a
 * logger (the shared logger masks by key name too; masking here does not depend on the key).
 */
import { maskAccountNumber, maskName } from '@kfrm/logging';

export { maskAccountNumber, maskName };

/** 19800101 → 1980****: the year alone is kept. */
export function maskBirthDate(value: string): string {
  return value.length >= 4 ? `${value.slice(0, 4)}****` : '****';
}

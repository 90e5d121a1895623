/**
 * The institutions a transfer can go to: our own bank first, then the Korean banks and
 * securities firms with their KFTC codes as listed in seed 001 (Konaplate's bankCode table).
 * This is data: the banks come from @kfrm/bank-codes, the one table of them.
 */
import { KOREAN_BANK_CODES, type BankCodeEntry } from '@kfrm/bank-codes';

export type InstitutionEntry = BankCodeEntry;

/**
 * Our bank's own code. Not a KFTC-assigned code (the seed names none for us); chosen outside the
 * seed's list so it can never be mistaken for another bank. Accounts here are 3333-… numbers.
 */
export const OWN_INSTITUTION_CODE = '333';

export const INSTITUTIONS: readonly InstitutionEntry[] = [{ code: OWN_INSTITUTION_CODE, name: 'KFRM뱅크' }, ...KOREAN_BANK_CODES];

const BY_CODE = new Map(INSTITUTIONS.map((i) => [i.code, i]));

export function findInstitution(code: string): InstitutionEntry | undefined {
  return BY_CODE.get(code);
}

export const DEFAULT_ICON_BASE_URL = 'https://static.kfrm.example/institutions/';

/** `<base><code>.png`; the base comes from KFRM_TRANSFER_ICON_BASE_URL. */
export function iconUrl(base: string, code: string): string {
  return `${base.endsWith('/') ? base : `${base}/`}${code}.png`;
}

import { createHash } from 'node:crypto';

/** What another institution says about one of its accounts. */
export type InterbankLookup = { ok: true; holderName: string } | { ok: false; reason: 'NOT_VALID_ACCOUNT' | 'BLOCKED_ACCOUNT' };

/**
 * Account-holder inquiry at another institution (in production an interbank network such as
 * KFTC's open banking). Throws when the network cannot answer; answers "no such account" and
 * "blocked" as values.
 */
export interface InterbankDirectory {
  lookup(institutionCode: string, accountNumber: string): Promise<InterbankLookup>;
}

const SANDBOX_NAMES = ['김민준', '이서연', '박지호', '최수아', '정도윤', '강하은', '조예준', '윤지우'];

/**
 * The sandbox (the default; no network). Recognisable inputs, documented in the README:
 * - digits only (dashes ignored), 10 to 14 digits; anything else: NOT_VALID_ACCOUNT;
 * - ending in 0000: NOT_VALID_ACCOUNT (the account does not exist);
 * - starting with 999: BLOCKED_ACCOUNT (frozen, e.g. reported for fraud);
 * - otherwise the account exists; its holder is one of a few fixed names, chosen by a hash of
 *   institution and number, so the same account always shows the same holder.
 */
export function sandboxInterbankDirectory(): InterbankDirectory {
  return {
    async lookup(institutionCode, accountNumber) {
      const digits = accountNumber.replaceAll('-', '');
      if (!/^\d{10,14}$/.test(digits) || digits.endsWith('0000')) return { ok: false, reason: 'NOT_VALID_ACCOUNT' };
      if (digits.startsWith('999')) return { ok: false, reason: 'BLOCKED_ACCOUNT' };
      const pick = createHash('sha256').update(`${institutionCode}:${digits}`).digest()[0]! % SANDBOX_NAMES.length;
      return { ok: true, holderName: SANDBOX_NAMES[pick]! };
    },
  };
}

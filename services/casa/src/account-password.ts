/**
 * Rules for a new account password (계좌 비밀번호): the 4-digit number Korean banks ask for at
 * the counter, on the phone and at ATMs. Checked on the server, before hashing.
 *
 * INVALID_ACCOUNT_PASSWORD — not exactly 4 ASCII digits '0'–'9' (no spaces, no full-width or
 * other Unicode digits, no signs).
 *
 * WEAK_ACCOUNT_PASSWORD — a well-formed password an attacker would try first. With only 10,000
 * values the rules stay few, so they remove the head of the distribution without leaving users
 * stuck. The first rule that matches is reported; in order:
 *   1. `repeated-digit`  one digit three or more times (1111, 1110, 0300).
 *   2. `sequence`        the four digits step by +1 or -1, wrapping 9→0 (1234, 4321, 7890, 2109).
 *   3. `repeated-pair`   a pair twice (1212, 9090) or mirrored (1221, 7007).
 *   4. `birth-date`      when the birth date is known: MMDD, DDMM, YYMM, the year YYYY (0315,
 *                        1503, 9003, 1990 for 1990-03-15).
 *   5. `phone-number`    when the phone number is known: its last 4 digits or the 4 before them
 *                        (5678 or 1234 for 010-1234-5678).
 * Rules 1-3 reject 5.7 % of all values (a test keeps the share under 6 %); the same spirit as the
 * app PIN rules of @kfrm/credentials, sized for 4 digits.
 */

export type AccountPasswordWeakness = 'repeated-digit' | 'sequence' | 'repeated-pair' | 'birth-date' | 'phone-number';

export type AccountPasswordEvaluation =
  | { result: 'ok' }
  | { result: 'INVALID_ACCOUNT_PASSWORD' }
  | { result: 'WEAK_ACCOUNT_PASSWORD'; rule: AccountPasswordWeakness };

export interface AccountPasswordContext {
  birthDate?: { year: number; month: number; day: number };
  /** Any format ('010-1234-5678'); only its digits count. */
  phoneNumber?: string;
}

export const ACCOUNT_PASSWORD_LENGTH = 4;

const two = (n: number) => String(n % 100).padStart(2, '0');

export function evaluateAccountPassword(password: string, context: AccountPasswordContext = {}): AccountPasswordEvaluation {
  if (typeof password !== 'string' || !/^[0-9]{4}$/.test(password)) return { result: 'INVALID_ACCOUNT_PASSWORD' };
  const rule = weakness(password, context);
  return rule ? { result: 'WEAK_ACCOUNT_PASSWORD', rule } : { result: 'ok' };
}

function weakness(p: string, context: AccountPasswordContext): AccountPasswordWeakness | undefined {
  const d = [...p].map(Number);
  const counts = new Map<number, number>();
  for (const x of d) counts.set(x, (counts.get(x) ?? 0) + 1);
  if ([...counts.values()].some((c) => c >= 3)) return 'repeated-digit';
  const steps = d.slice(1).map((x, i) => (x - d[i]! + 10) % 10);
  if (steps.every((s) => s === 1) || steps.every((s) => s === 9)) return 'sequence';
  if (p.slice(0, 2) === p.slice(2) || (p[0] === p[3] && p[1] === p[2])) return 'repeated-pair';
  const birth = context.birthDate;
  if (birth) {
    const mm = two(birth.month);
    const dd = two(birth.day);
    if ([mm + dd, dd + mm, two(birth.year) + mm, String(birth.year).padStart(4, '0')].includes(p)) return 'birth-date';
  }
  if (context.phoneNumber !== undefined) {
    const digits = context.phoneNumber.replace(/\D/g, '');
    if ((digits.length >= 4 && p === digits.slice(-4)) || (digits.length >= 8 && p === digits.slice(-8, -4))) return 'phone-number';
  }
  return undefined;
}

/**
 * Birth date from a resident registration number YYMMDD-GNNNNNN (century from G: 1, 2, 5, 6 →
 * 1900s; 3, 4, 7, 8 → 2000s; 9, 0 → 1800s). undefined when malformed or not a real date.
 */
export function birthDateFromResidentId(residentId: string): { year: number; month: number; day: number } | undefined {
  const match = /^(\d{2})(\d{2})(\d{2})-?(\d)\d{6}$/.exec(residentId.trim());
  if (!match) return undefined;
  const [, yy, mm, dd, g] = match as unknown as [string, string, string, string, string];
  const century = '1256'.includes(g) ? 1900 : '3478'.includes(g) ? 2000 : 1800;
  const year = century + Number(yy);
  const month = Number(mm);
  const day = Number(dd);
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  return { year, month, day };
}

/**
 * The rules a new 6-digit PIN must pass at registration (and at a PIN change). They are checked
 * on the server, after E2E decryption, because the app's own checks cannot be trusted.
 *
 * INVALID_USER_PIN — the PIN is not exactly 6 ASCII digits '0'–'9' (no spaces, no full-width or
 * other Unicode digits, no signs). Nothing else is checked for such a value.
 *
 * WEAK_USER_PIN — a well-formed PIN that an attacker would try early. The first rule that
 * matches is reported (see {@link PinWeakness}); in order:
 *   1. `repeated-digit`  one digit occurs 4 or more times (111111, 101011, 900090), or three
 *                        identical digits stand in a row (111234, 290007).
 *   2. `progression`     the whole PIN steps by a constant amount modulo 10: ascending and
 *                        descending runs including wrap-arounds (123456, 987654, 890123,
 *                        321098) and other strides (135791, 024680, 864208).
 *   3. `sequence-run`    4 or more consecutive digits counting up or down by one, wrapping
 *                        9→0 (123490, 556789, 901274, 843210).
 *   4. `repeated-block`  a pair repeated three times (121212) or a triple twice (123123).
 *   5. `mirrored`        the second half mirrors the first (123321), or three doubled digits
 *                        (112233, 557799).
 *   6. `birth-date`      when the birth date is given: YYMMDD, DDMMYY or MMDDYY exactly, or the
 *                        PIN contains MMDD, DDMM or the four-digit year anywhere
 *                        (1990-01-15: 900115, 150190, 011590, 770115, 151990, 1990xx …).
 *   7. `phone-number`    when a phone number is given (any formatting; only its digits count):
 *                        the PIN equals its last 6 digits, or contains its last 4 digits or the
 *                        4 before them (010-1234-5678: 345678, xx5678, 1234xx …).
 *   8. `common-pin`      on {@link COMMON_PINS}, the most frequent 6-digit PINs in published
 *                        leak studies that rules 1–5 do not already catch (keypad walks such as
 *                        147258 and 159753, number puns such as 520131 "I love you for life").
 *
 * Without context, rules 1–5 and 8 reject about 5 % of all PINs, four fifths of them by rule 1
 * (a test keeps the share under 6 %), so the rules cost users little and remove the head of the
 * distribution that an online guesser would spend its few allowed attempts on.
 */

export type PinCheckResult = 'ok' | 'INVALID_USER_PIN' | 'WEAK_USER_PIN';

export type PinWeakness =
  | 'repeated-digit'
  | 'progression'
  | 'sequence-run'
  | 'repeated-block'
  | 'mirrored'
  | 'birth-date'
  | 'phone-number'
  | 'common-pin';

export interface PinContext {
  /** The user's birth date, when known (from identity verification). */
  birthDate?: { year: number; month: number; day: number };
  /** The user's phone number in any format ('010-1234-5678', '+82 10 1234 5678'). */
  phoneNumber?: string;
}

export type PinEvaluation = { result: 'ok' } | { result: 'INVALID_USER_PIN' } | { result: 'WEAK_USER_PIN'; rule: PinWeakness };

export const PIN_LENGTH = 6;

/**
 * Frequent 6-digit PINs not already covered by the structural rules (Wang et al., "Understanding
 * human-chosen PINs", 2017; the DataGenetics and RockYou 6-digit tallies). Mostly keypad walks on
 * the phone's 3×4 keypad (1 2 3 / 4 5 6 / 7 8 9 / 0) and Chinese number puns.
 */
export const COMMON_PINS: readonly string[] = [
  // keypad columns, diagonals and crosses
  '147258',
  '258369',
  '147369',
  '159357',
  '159753',
  '357159',
  '753159',
  '963852',
  '963741',
  '741963',
  '369147',
  '147852',
  '789456',
  '456123',
  '789123',
  '321654',
  '654987',
  '987321',
  '123654',
  '456321',
  '142536',
  '258456',
  '159258',
  '951753',
  '753951',
  '852456',
  '321789',
  '789654',
  // number words and dates people reuse
  '520521',
  '520131',
  '201314',
  '131420',
  '102030',
  '123789',
  '246810',
  '135790',
  '121314',
  '112358',
  '314159',
  '199001',
  '198800',
];

const COMMON_PIN_SET = new Set(COMMON_PINS);

/** 'ok', or the seed error code to answer with. */
export function checkPin(pin: string, context: PinContext = {}): PinCheckResult {
  return evaluatePin(pin, context).result;
}

/** Like {@link checkPin}, and names the rule that made a PIN weak (for tests and audit logs; never log the PIN). */
export function evaluatePin(pin: string, context: PinContext = {}): PinEvaluation {
  if (typeof pin !== 'string' || !/^[0-9]{6}$/.test(pin)) return { result: 'INVALID_USER_PIN' };
  const rule = findWeakness(pin, context);
  return rule ? { result: 'WEAK_USER_PIN', rule } : { result: 'ok' };
}

function findWeakness(pin: string, context: PinContext): PinWeakness | undefined {
  const d = [...pin].map(Number);
  if (hasRepeatedDigit(pin, d)) return 'repeated-digit';
  if (isProgression(d)) return 'progression';
  if (hasSequenceRun(d, 4)) return 'sequence-run';
  if (isRepeatedBlock(pin)) return 'repeated-block';
  if (isMirrored(pin)) return 'mirrored';
  if (context.birthDate && matchesBirthDate(pin, context.birthDate)) return 'birth-date';
  if (context.phoneNumber !== undefined && matchesPhoneNumber(pin, context.phoneNumber)) return 'phone-number';
  if (COMMON_PIN_SET.has(pin)) return 'common-pin';
  return undefined;
}

function hasRepeatedDigit(pin: string, d: number[]): boolean {
  const counts = new Array<number>(10).fill(0);
  for (const x of d) counts[x] = (counts[x] ?? 0) + 1;
  if (counts.some((c) => c >= 4)) return true;
  return /(\d)\1\1/.test(pin);
}

function step(a: number, b: number): number {
  return (b - a + 10) % 10;
}

/** Every step between neighbours is the same (mod 10). Step 0 is caught by the repeat rule first. */
function isProgression(d: number[]): boolean {
  const first = step(d[0]!, d[1]!);
  for (let i = 2; i < d.length; i++) if (step(d[i - 1]!, d[i]!) !== first) return false;
  return true;
}

/** A run of `length` digits each one more (or each one less) than the previous, mod 10. */
function hasSequenceRun(d: number[], length: number): boolean {
  let up = 1;
  let down = 1;
  for (let i = 1; i < d.length; i++) {
    const s = step(d[i - 1]!, d[i]!);
    up = s === 1 ? up + 1 : 1;
    down = s === 9 ? down + 1 : 1;
    if (up >= length || down >= length) return true;
  }
  return false;
}

function isRepeatedBlock(pin: string): boolean {
  return pin === pin.slice(0, 2).repeat(3) || pin === pin.slice(0, 3).repeat(2);
}

function isMirrored(pin: string): boolean {
  const half = pin.slice(0, 3);
  if (pin.slice(3) === [...half].reverse().join('')) return true;
  return pin[0] === pin[1] && pin[2] === pin[3] && pin[4] === pin[5];
}

const two = (n: number): string => String(n % 100).padStart(2, '0');

function matchesBirthDate(pin: string, birth: { year: number; month: number; day: number }): boolean {
  const yyyy = String(birth.year).padStart(4, '0');
  const yy = two(birth.year);
  const mm = two(birth.month);
  const dd = two(birth.day);
  if (pin === yy + mm + dd || pin === dd + mm + yy || pin === mm + dd + yy) return true;
  return pin.includes(mm + dd) || pin.includes(dd + mm) || pin.includes(yyyy);
}

function matchesPhoneNumber(pin: string, phoneNumber: string): boolean {
  const digits = phoneNumber.replace(/\D/g, '');
  if (digits.length >= 6 && pin === digits.slice(-6)) return true;
  if (digits.length >= 4 && pin.includes(digits.slice(-4))) return true;
  return digits.length >= 8 && pin.includes(digits.slice(-8, -4));
}

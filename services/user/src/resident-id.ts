/**
 * Korean resident registration numbers (주민등록번호), format YYMMDD-NNNNNNN. The 7th digit
 * gives the century (1/2/5/6: 1900s, 3/4/7/8: 2000s, 9/0: 1800s). The check digit is not
 * verified: numbers issued since October 2020 no longer carry one.
 */
const FORMAT = /^(\d{2})(\d{2})(\d{2})-(\d)\d{6}$/;
const CENTURY: Readonly<Record<string, number>> = {
  '1': 1900,
  '2': 1900,
  '5': 1900,
  '6': 1900,
  '3': 2000,
  '4': 2000,
  '7': 2000,
  '8': 2000,
  '9': 1800,
  '0': 1800,
};
const MAX_AGE_YEARS = 130;

/** The birth date the number encodes (UTC midnight), or undefined when it is not plausible at `now`. */
export function residentIdBirthDate(residentId: string, now: Date): Date | undefined {
  const match = FORMAT.exec(residentId);
  if (!match) return undefined;
  const [, yy, mm, dd, centuryDigit] = match;
  const year = CENTURY[centuryDigit!]! + Number(yy);
  const month = Number(mm);
  const day = Number(dd);
  const date = new Date(Date.UTC(year, month - 1, day));
  // Rejects 0230, 1301, 0000 …: Date.UTC rolls them over into another date.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;
  if (date.getTime() > now.getTime()) return undefined;
  if (now.getUTCFullYear() - year > MAX_AGE_YEARS) return undefined;
  return date;
}

export function isPlausibleResidentId(residentId: string, now: Date): boolean {
  return residentIdBirthDate(residentId, now) !== undefined;
}

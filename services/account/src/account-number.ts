import { randomInt } from 'node:crypto';

/**
 * Customer account numbers: the bank's prefix 3333, a dash, ten random digits and a Luhn check
 * digit over all fourteen digits before it (e.g. 3333-04718263590). Random rather than
 * sequential, so a number tells nothing about other accounts; a collision is caught by the
 * unique index and a new number drawn.
 */
export const ACCOUNT_NUMBER_PREFIX = '3333';
const CUSTOMER_FORMAT = /^3333-\d{11}$/;

function luhnCheckDigit(digits: string): number {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    // Double every second digit counting from the right of the payload (the check digit's neighbour first).
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 0) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return (10 - (sum % 10)) % 10;
}

export function newAccountNumber(): string {
  let body = '';
  for (let i = 0; i < 10; i++) body += String(randomInt(10));
  return `${ACCOUNT_NUMBER_PREFIX}-${body}${luhnCheckDigit(ACCOUNT_NUMBER_PREFIX + body)}`;
}

/** True for a well-formed customer account number with a correct check digit. */
export function isCustomerAccountNumber(value: string): boolean {
  if (!CUSTOMER_FORMAT.test(value)) return false;
  const digits = value.replace('-', '');
  return luhnCheckDigit(digits.slice(0, -1)) === Number(digits.slice(-1));
}

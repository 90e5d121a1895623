import { describe, expect, it } from 'vitest';
import { SigningCertificateMemo, type RememberedCertificate } from './signing-certificate-memo';

const certificate = (serialNumber: string, notAfter = new Date('2030-01-01T00:00:00Z')): RememberedCertificate => ({
  der: new Uint8Array([1, 2, 3]),
  serialNumber,
  notAfter,
});
const NOW = new Date('2026-12-08T00:00:00Z');

function memoAt(start = 1_000) {
  const clock = { ms: start };
  return { clock, memo: new SigningCertificateMemo({ monotonicNow: () => clock.ms }) };
}

describe('SigningCertificateMemo', () => {
  it('answers the user it remembered, once', () => {
    const { memo } = memoAt();
    memo.remember(7n, certificate('a'), memo.beforeRead());
    expect(memo.take(8n, NOW)).toBeUndefined();
    expect(memo.take(7n, NOW)?.serialNumber).toBe('a');
    expect(memo.take(7n, NOW)).toBeUndefined();
  });

  it('answers for at most a second after the read started, however long the read took', () => {
    const { clock, memo } = memoAt();
    const ticket = memo.beforeRead();
    clock.ms += 400; // the read
    memo.remember(7n, certificate('a'), ticket);
    clock.ms += 600;
    expect(memo.take(7n, NOW)?.serialNumber).toBe('a');

    const late = memo.beforeRead();
    clock.ms += 300;
    memo.remember(7n, certificate('b'), late);
    clock.ms += 701;
    expect(memo.take(7n, NOW)).toBeUndefined();
    expect(memo.size).toBe(0);
  });

  it('does not answer at or past the certificate’s notAfter', () => {
    const { memo } = memoAt();
    memo.remember(7n, certificate('a', NOW), memo.beforeRead());
    expect(memo.take(7n, NOW)).toBeUndefined();
    memo.remember(7n, certificate('b', new Date(NOW.getTime() + 1)), memo.beforeRead());
    expect(memo.take(7n, NOW)?.serialNumber).toBe('b');
  });

  it('does not answer when the clock went backwards', () => {
    const { clock, memo } = memoAt();
    memo.remember(7n, certificate('a'), memo.beforeRead());
    clock.ms -= 1;
    expect(memo.take(7n, NOW)).toBeUndefined();
  });

  it('forgets a user whose certificates change, and does not keep a read that was on its way meanwhile', async () => {
    const { memo } = memoAt();
    memo.remember(7n, certificate('a'), memo.beforeRead());
    memo.remember(8n, certificate('b'), memo.beforeRead());
    const onItsWay = memo.beforeRead();
    let during: RememberedCertificate | undefined;
    await memo.whileChanging(7n, async () => {
      during = memo.take(7n, NOW);
    });
    expect(during).toBeUndefined();
    expect(memo.take(7n, NOW)).toBeUndefined();
    // Another user's entry stays; a read started before the change is dropped, whoever it was for.
    memo.remember(9n, certificate('c'), onItsWay);
    expect(memo.take(9n, NOW)).toBeUndefined();
    expect(memo.take(8n, NOW)?.serialNumber).toBe('b');
    // Reads after the change are kept.
    memo.remember(7n, certificate('d'), memo.beforeRead());
    expect(memo.take(7n, NOW)?.serialNumber).toBe('d');
  });

  it('forgets again when the change fails, and passes its error on', async () => {
    const { memo } = memoAt();
    const ticket = memo.beforeRead();
    await expect(
      memo.whileChanging(7n, async () => {
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    memo.remember(7n, certificate('a'), ticket);
    expect(memo.take(7n, NOW)).toBeUndefined();
  });

  it('keeps at most maxEntries, dropping the oldest read first', () => {
    const clock = { ms: 0 };
    const memo = new SigningCertificateMemo({ maxEntries: 2, monotonicNow: () => clock.ms });
    memo.remember(1n, certificate('1'), memo.beforeRead());
    memo.remember(2n, certificate('2'), memo.beforeRead());
    memo.remember(1n, certificate('1 again'), memo.beforeRead());
    memo.remember(3n, certificate('3'), memo.beforeRead());
    expect(memo.size).toBe(2);
    expect(memo.take(2n, NOW)).toBeUndefined();
    expect(memo.take(1n, NOW)?.serialNumber).toBe('1 again');
    expect(memo.take(3n, NOW)?.serialNumber).toBe('3');
  });

  it('refuses a bound beyond a second', () => {
    expect(() => new SigningCertificateMemo({ maxAgeMs: 1_001 })).toThrow(RangeError);
    expect(() => new SigningCertificateMemo({ maxEntries: 0 })).toThrow(RangeError);
  });
});

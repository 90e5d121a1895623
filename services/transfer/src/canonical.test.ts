import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { isWellFormedAccountNumber, krwAmount, maskName, processContext, signedContent, INT64_MAX } from './canonical';
import { sandboxInterbankDirectory } from './interbank-directory';
import { INSTITUTIONS, OWN_INSTITUTION_CODE } from './institutions';

const terms = {
  sourceAccountNumber: '3333-04718263590',
  targetInstitutionCode: '088',
  targetAccountNumber: '110-234-567890',
  currency: 'KRW' as const,
  amountMinor: 50_000n,
};

describe('canonical transfer bytes', () => {
  it('match the test vector in docs/transfer-signing.md, byte for byte', async () => {
    const doc = await readFile(new URL('../../../docs/transfer-signing.md', import.meta.url), 'utf8');
    const block = /### Test vector[\s\S]*?```\n(.*)\n```/.exec(doc)?.[1];
    const digest = /SHA-256: `([0-9a-f]{64})`/.exec(doc)?.[1];
    const bytes = signedContent('q1X8mYbQv3n0Zr2c7TtKpA', terms);
    expect(bytes).toBe(block);
    expect(createHash('sha256').update(bytes, 'utf8').digest('hex')).toBe(digest);
    expect(doc).toContain(`(one line, ${Buffer.byteLength(bytes)} bytes)`);
  });

  it('change with every term of the transfer and with the process', () => {
    const base = signedContent('p1', terms);
    expect(signedContent('p2', terms)).not.toBe(base);
    expect(signedContent('p1', { ...terms, amountMinor: 50_001n })).not.toBe(base);
    expect(signedContent('p1', { ...terms, targetAccountNumber: '110-234-567891' })).not.toBe(base);
    expect(signedContent('p1', { ...terms, targetInstitutionCode: '004' })).not.toBe(base);
    expect(signedContent('p1', { ...terms, sourceAccountNumber: '3333-04718263591' })).not.toBe(base);
  });

  it('keep int64 amounts exact', () => {
    expect(signedContent('p', { ...terms, amountMinor: INT64_MAX })).toContain(`"amount_minor":"9223372036854775807"`);
  });

  it('give the process a context the policies can read, naming the transfer', () => {
    const context = JSON.parse(processContext('t-1', terms)) as { transfer_id: string; amount: { major_amount: string } };
    expect(context.transfer_id).toBe('t-1');
    expect(context.amount.major_amount).toBe('50000');
  });
});

describe('amounts', () => {
  const krw = (majorAmount: bigint, minorAmount = 0n) => ({ currencyCode: 'KRW' as const, majorAmount, minorAmount });
  it('accept positive whole won up to int64', () => {
    expect(krwAmount(krw(1n))).toBe(1n);
    expect(krwAmount(krw(INT64_MAX))).toBe(INT64_MAX);
    expect(krwAmount(krw(2n ** 53n + 1n))).toBe(2n ** 53n + 1n);
  });
  it('refuse zero, negative, fractional, other currencies, missing and beyond int64', () => {
    for (const bad of [krw(0n), krw(-1n), krw(1n, 5n), krw(INT64_MAX + 1n), { ...krw(10n), currencyCode: 'OTHER' as const }, undefined]) {
      expect(() => krwAmount(bad)).toThrow();
    }
  });
});

describe('names, numbers, institutions', () => {
  it('mask holder names as banks show them', () => {
    expect(maskName('홍길동')).toBe('홍*동');
    expect(maskName('남궁민수')).toBe('남**수');
    expect(maskName('김철')).toBe('김*');
    expect(maskName('김')).toBe('*');
    expect(maskName('John Smith')).toBe('J********h');
  });
  it('accept digits and single dashes only as account numbers', () => {
    expect(isWellFormedAccountNumber('3333-04718263590')).toBe(true);
    expect(isWellFormedAccountNumber('110234567890')).toBe(true);
    for (const bad of ['', '-1', '1-', '12--34', '12a4', ' 1234', '1'.repeat(33)]) expect(isWellFormedAccountNumber(bad)).toBe(false);
  });
  it('list our bank first and every institution of seed 001 once', () => {
    expect(INSTITUTIONS[0]!.code).toBe(OWN_INSTITUTION_CODE);
    expect(INSTITUTIONS).toHaveLength(30);
    expect(new Set(INSTITUTIONS.map((i) => i.code)).size).toBe(30);
    expect(INSTITUTIONS).toContainEqual({ code: '090', name: '카카오뱅크' });
    expect(INSTITUTIONS).toContainEqual({ code: '261', name: '교보증권' });
  });
});

describe('interbank sandbox', () => {
  const sandbox = sandboxInterbankDirectory();
  it('answers the documented test inputs', async () => {
    expect(await sandbox.lookup('088', '110-234-560000')).toEqual({ ok: false, reason: 'NOT_VALID_ACCOUNT' });
    expect(await sandbox.lookup('088', '12345')).toEqual({ ok: false, reason: 'NOT_VALID_ACCOUNT' });
    expect(await sandbox.lookup('088', '999-234-567890')).toEqual({ ok: false, reason: 'BLOCKED_ACCOUNT' });
    const found = await sandbox.lookup('088', '110-234-567890');
    expect(found.ok).toBe(true);
    expect(await sandbox.lookup('088', '110234567890')).toEqual(found);
  });
});

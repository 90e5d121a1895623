import { describe, expect, it } from 'vitest';
import { formatAmount, renderTransfer, withParticle, type TransferFacts } from './notification-text';

const krw = (major: bigint) => ({ currency: 'KRW', major, minor: 0n });

describe('transfer notification text', () => {
  it('words a transfer out exactly as the transfer service did before facts', () => {
    const facts: TransferFacts = { kind: 'TRANSFER_OUT', amount: krw(1_200_000n), counterpartyName: 'B********0', memo: 'to Bob' };
    expect(renderTransfer(facts)).toEqual({ title: '이체 완료', content: 'B********0님에게 1,200,000원을 보냈습니다.' });
  });

  it('words a transfer in exactly as before, with the credit memo', () => {
    const facts: TransferFacts = { kind: 'TRANSFER_IN', amount: krw(30_000n), counterpartyName: '', memo: '점심값' };
    expect(renderTransfer(facts)).toEqual({ title: '입금', content: '30,000원이 입금되었습니다. (점심값)' });
  });

  it('leaves out what is empty instead of printing empty brackets or "님에게"', () => {
    expect(renderTransfer({ kind: 'TRANSFER_IN', amount: krw(5n), counterpartyName: '', memo: '' }).content).toBe('5원이 입금되었습니다.');
    expect(renderTransfer({ kind: 'TRANSFER_OUT', amount: krw(5n), counterpartyName: '', memo: '' }).content).toBe('5원을 보냈습니다.');
  });

  it('words top-ups, withdrawals and returned withdrawals with the bank from the memo', () => {
    expect(renderTransfer({ kind: 'TOP_UP', amount: krw(50_000n), counterpartyName: '', memo: '신한은행 충전' })).toEqual({
      title: '충전',
      content: '50,000원이 충전되었습니다. (신한은행 충전)',
    });
    expect(renderTransfer({ kind: 'WITHDRAWAL', amount: krw(20_000n), counterpartyName: '', memo: '신한은행 출금' })).toEqual({
      title: '출금',
      content: '20,000원을 출금했습니다. (신한은행 출금)',
    });
    expect(renderTransfer({ kind: 'WITHDRAWAL_RETURNED', amount: krw(20_000n), counterpartyName: '', memo: '' })).toEqual({
      title: '출금 취소',
      content: '출금이 거절되어 20,000원이 계좌로 돌아왔습니다.',
    });
  });

  it('groups thousands and keeps amounts exact beyond 2^53', () => {
    expect(formatAmount(krw(0n))).toBe('0원');
    expect(formatAmount(krw(999n))).toBe('999원');
    expect(formatAmount(krw(1_000n))).toBe('1,000원');
    expect(formatAmount(krw(9_223_372_036_854_775_807n))).toBe('9,223,372,036,854,775,807원');
  });

  it('writes minor units for currencies that have them', () => {
    expect(formatAmount({ currency: 'USD', major: 1_234n, minor: 5n })).toBe('1,234.05달러');
    expect(formatAmount({ currency: 'THB', major: 0n, minor: 99n })).toBe('0.99바트');
    expect(formatAmount({ currency: 'XYZ', major: 1n, minor: 50n })).toBe('1.50 XYZ');
    expect(
      renderTransfer({ kind: 'TRANSFER_IN', amount: { currency: 'USD', major: 12n, minor: 34n }, counterpartyName: '', memo: '' }).content,
    ).toBe('12.34달러가 입금되었습니다.');
  });

  it('picks the particle from the last syllable', () => {
    expect(withParticle('1,000원', '을', '를')).toBe('1,000원을');
    expect(withParticle('12.34달러', '을', '를')).toBe('12.34달러를');
    expect(withParticle('1.50 XYZ', '이', '가')).toBe('1.50 XYZ이(가)');
  });
});

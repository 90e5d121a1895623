/**
 * The words of a notification, from the facts the ledger records (kind, amount, counterparty,
 * memo). The ledger stores no sentences, so rewording a notification is a change here only: it
 * never touches a stored entry or an idempotency check. Pure: no I/O, no clock.
 */

/** TOP_UP, WITHDRAWAL, WITHDRAWAL_RETURNED: money between the user's account and their linked bank account (funding). */
export type TransferEventKind = 'TRANSFER_OUT' | 'TRANSFER_IN' | 'TOP_UP' | 'WITHDRAWAL' | 'WITHDRAWAL_RETURNED';

/** An amount as the ledger sends it: whole units and the part after the decimal point. */
export interface Amount {
  currency: string;
  major: bigint;
  minor: bigint;
}

export interface TransferFacts {
  kind: TransferEventKind;
  amount: Amount;
  /** The other side as the user may see it (already masked by whoever posted); may be empty. */
  counterpartyName: string;
  /** The memo of the user's side of the entry; may be empty. */
  memo: string;
}

export interface NotificationText {
  title: string;
  content: string;
}

/** Unit word and decimals per currency; KRW has no minor unit. */
const UNITS: Readonly<Record<string, { word: string; decimals: number }>> = {
  KRW: { word: '원', decimals: 0 },
  USD: { word: '달러', decimals: 2 },
  THB: { word: '바트', decimals: 2 },
};

const grouped = (value: bigint) => value.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** "1,000원", "12.05달러"; a currency without a Korean unit word as "12.05 XYZ". */
export function formatAmount(amount: Amount): string {
  const unit = UNITS[amount.currency];
  const decimals = unit?.decimals ?? 2;
  const number = decimals === 0 ? grouped(amount.major) : `${grouped(amount.major)}.${amount.minor.toString().padStart(decimals, '0')}`;
  return unit ? `${number}${unit.word}` : `${number} ${amount.currency}`;
}

/**
 * The word followed by the particle that fits its last syllable: `afterConsonant` (을, 이) when
 * it ends in a final consonant, `afterVowel` (를, 가) when not. A word that does not end in Hangul
 * (a currency code) cannot be told apart and gets both, the usual "을(를)".
 */
export function withParticle(word: string, afterConsonant: string, afterVowel: string): string {
  const last = word.codePointAt(word.length - 1) ?? 0;
  if (last < 0xac00 || last > 0xd7a3) return `${word}${afterConsonant}(${afterVowel})`;
  return `${word}${(last - 0xac00) % 28 !== 0 ? afterConsonant : afterVowel}`;
}

/** The title and body the phone shows for a transfer event. */
export function renderTransfer(facts: TransferFacts): NotificationText {
  const amount = formatAmount(facts.amount);
  const memo = facts.memo === '' ? '' : ` (${facts.memo})`;
  if (facts.kind === 'TOP_UP') return { title: '충전', content: `${withParticle(amount, '이', '가')} 충전되었습니다.${memo}` };
  if (facts.kind === 'WITHDRAWAL') return { title: '출금', content: `${withParticle(amount, '을', '를')} 출금했습니다.${memo}` };
  if (facts.kind === 'WITHDRAWAL_RETURNED') {
    return { title: '출금 취소', content: `출금이 거절되어 ${withParticle(amount, '이', '가')} 계좌로 돌아왔습니다.` };
  }
  if (facts.kind === 'TRANSFER_OUT') {
    const to = facts.counterpartyName === '' ? '' : `${facts.counterpartyName}님에게 `;
    return { title: '이체 완료', content: `${to}${withParticle(amount, '을', '를')} 보냈습니다.` };
  }
  return { title: '입금', content: `${withParticle(amount, '이', '가')} 입금되었습니다.${memo}` };
}

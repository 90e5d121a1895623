import { describe, expect, it } from 'vitest';
import { type PreCheckedFacts, PreCheckedTransfers } from './pre-checked-memory';

const facts = (processId: string): PreCheckedFacts => ({
  id: `t-${processId}`,
  userId: '1',
  sourceAccountNumber: '3333-00000000001',
  targetInstitutionCode: '333',
  targetAccountNumber: '3333-00000000002',
  amountMinor: 1_000n,
  processId,
  processContext: '{}',
  signedContent: '{}',
  targetOwnerUserId: '2',
});

describe('the memory of pre-checked transfers', () => {
  it('gives each transfer once', () => {
    const memory = new PreCheckedTransfers(() => new Date(0));
    memory.remember(facts('p1'));
    expect(memory.take('p1')).toEqual(facts('p1'));
    expect(memory.take('p1')).toBeUndefined();
    expect(memory.take('unknown')).toBeUndefined();
  });

  it('forgets a transfer older than ten minutes', () => {
    let now = 0;
    const memory = new PreCheckedTransfers(() => new Date(now));
    memory.remember(facts('old'));
    memory.remember(facts('edge'));
    now = 10 * 60_000;
    expect(memory.take('edge')).toEqual(facts('edge'));
    now += 1;
    expect(memory.take('old')).toBeUndefined();
    // Expired entries also leave when something new arrives, oldest first.
    memory.remember(facts('a'));
    now += 10 * 60_000 + 1;
    memory.remember(facts('b'));
    expect(memory.size).toBe(1);
    expect(memory.take('b')).toEqual(facts('b'));
  });

  it('keeps at most 10,000 transfers, evicting the oldest first', () => {
    const memory = new PreCheckedTransfers(() => new Date(0));
    for (let i = 0; i <= 10_000; i++) memory.remember(facts(`p${i}`));
    expect(memory.size).toBe(10_000);
    expect(memory.take('p0')).toBeUndefined();
    expect(memory.take('p1')).toEqual(facts('p1'));
    expect(memory.take('p10000')).toEqual(facts('p10000'));
  });
});

import { describe, expect, it } from 'vitest';
import { requestHashOf, sameRequest, type PostRequest } from './ledger-poster';
import type { StoredEntry } from './ledger.repository';

const request: PostRequest = {
  kind: 'TRANSFER',
  idempotencyKey: 'k',
  fromAccountNumber: '3333-1000000001',
  toAccountNumber: '3333-1000000002',
  amount: { currency: 'KRW', minor: 1_000n },
  debitMemo: '김*수',
  creditMemo: '점심값',
  events: [{ userId: 'a', type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_OUT', counterpartyName: '김*수' }],
  sourceOwnerUserId: 'a',
};

describe('idempotency request hash (version 2)', () => {
  it('ignores display text: memos and events', () => {
    const reworded: PostRequest = {
      ...request,
      debitMemo: 'x',
      creditMemo: 'y',
      events: [{ userId: 'a', type: 'TRANSFER_SUCCEED', kind: 'TEXT', title: 't', content: 'c' }],
    };
    expect(requestHashOf(reworded)).toBe(requestHashOf(request));
    expect(requestHashOf({ ...request, events: [] })).toBe(requestHashOf(request));
  });

  it('covers every money field', () => {
    const others: Partial<PostRequest>[] = [
      { kind: 'DEPOSIT' },
      { fromAccountNumber: '3333-1000000003' },
      { toAccountNumber: '3333-1000000003' },
      { amount: { currency: 'KRW', minor: 1_001n } },
      { amount: { currency: 'USD', minor: 1_000n } },
      { sourceOwnerUserId: 'b' },
      { sourceOwnerUserId: undefined },
    ];
    const hashes = new Set([requestHashOf(request), ...others.map((o) => requestHashOf({ ...request, ...o }))]);
    expect(hashes.size).toBe(others.length + 1);
  });
});

describe('a committed entry is the same request', () => {
  const entry = (version: number, requestHash = 'f'.repeat(64)): StoredEntry => ({
    id: 1n,
    idempotencyKey: 'k',
    kind: 'TRANSFER',
    requestHash,
    requestHashVersion: version,
    createdAt: new Date(0),
    postings: [
      { accountNumber: '3333-1000000001', ownerUserId: 'a', currency: 'KRW', amountMinor: -1_000n, balanceAfterMinor: 0n },
      { accountNumber: '3333-1000000002', ownerUserId: 'b', currency: 'KRW', amountMinor: 1_000n, balanceAfterMinor: 1_000n },
    ],
  });
  const pending = (r: PostRequest) => ({ request: r, requestHash: requestHashOf(r) });

  it('version 2: by hash', () => {
    expect(sameRequest(pending(request), entry(2, requestHashOf(request)))).toBe(true);
    expect(sameRequest(pending({ ...request, debitMemo: 'other' }), entry(2, requestHashOf(request)))).toBe(true);
    expect(sameRequest(pending({ ...request, amount: { currency: 'KRW', minor: 999n } }), entry(2, requestHashOf(request)))).toBe(false);
  });

  it('version 1 (old hash over text): by the money fields of its postings', () => {
    expect(sameRequest(pending({ ...request, debitMemo: 'other', events: [] }), entry(1))).toBe(true);
    expect(sameRequest(pending({ ...request, sourceOwnerUserId: undefined }), entry(1))).toBe(true);
    for (const other of [
      { kind: 'DEPOSIT' as const },
      { fromAccountNumber: '3333-1000000002', toAccountNumber: '3333-1000000001' },
      { toAccountNumber: '3333-1000000003' },
      { amount: { currency: 'KRW' as const, minor: 1_001n } },
      { amount: { currency: 'USD' as const, minor: 1_000n } },
      { sourceOwnerUserId: 'b' },
    ]) {
      expect(sameRequest(pending({ ...request, ...other }), entry(1))).toBe(false);
    }
  });

  it('an unknown version never matches', () => {
    expect(sameRequest(pending(request), entry(3, requestHashOf(request)))).toBe(false);
  });
});

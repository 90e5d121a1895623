// The outbox cursor: a reader that resumes "after id N" while writers commit concurrently sees
// every committed event exactly once and in order; ids of events are never skipped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboxRow } from './ledger.repository';
import { krw, openTestLedger, type TestLedger } from './testing/ledger.harness';

describe('outbox cursor under concurrent writers', () => {
  let t: TestLedger;
  beforeAll(async () => {
    // Unbatched with many transactions in flight: the case where commit order and id order could differ.
    t = await openTestLedger({ maxBatchSize: 1, lingerMs: 0, maxConcurrentBatches: 10 });
  }, 60_000);
  afterAll(async () => t?.close());

  it('never skips an event', async () => {
    const pairs = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const from = await t.ledger.createAccount({ ownerUserId: `o${i}`, name: 'from', currency: 'KRW' });
        const to = await t.ledger.createAccount({ ownerUserId: `r${i}`, name: 'to', currency: 'KRW' });
        await t.ledger.deposit({ idempotencyKey: `fund-${i}`, accountNumber: from.accountNumber, amount: krw(1_000_000), memo: '' });
        return { from, to, i };
      }),
    );
    const seen: OutboxRow[] = [];
    let writing = true;
    const reader = (async () => {
      let cursor = 0n;
      // Keep reading until the writers are done and one more read found nothing new.
      for (;;) {
        const done = !writing;
        const page = await t.ledger.listOutboxEvents(cursor, 50);
        seen.push(...page);
        if (page.length > 0) cursor = page.at(-1)!.id;
        else if (done) return;
        else await new Promise((resolve) => setTimeout(resolve, 1));
      }
    })();
    const perPair = process.env.DATABASE_URL ? 40 : 10;
    await Promise.all(
      pairs.map(async ({ from, to, i }) => {
        for (let n = 0; n < perPair; n++) {
          await t.ledger.postTransfer({
            idempotencyKey: `ev-${i}-${n}`,
            fromAccountNumber: from.accountNumber,
            toAccountNumber: to.accountNumber,
            amount: krw(1),
            debitMemo: '',
            creditMemo: '',
            events: [
              { userId: `o${i}`, type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_OUT', counterpartyName: `${n}` },
              { userId: `r${i}`, type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_IN', counterpartyName: '' },
            ],
          });
        }
      }),
    );
    writing = false;
    await reader;
    const total = pairs.length * perPair * 2;
    expect(seen.map((e) => e.id)).toEqual(Array.from({ length: total }, (_, k) => BigInt(k + 1)));
  }, 60_000);
});

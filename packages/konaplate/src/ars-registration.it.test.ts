/**
 * The ASSUMED ARS registration and transaction-history calls (ars-registration.ts,
 * money-movement.ts): the real client against the sandbox over HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KonaplateHolderNotFoundError,
  KonaplateInvalidRequestError,
  KonaplateAccountNotUsableError,
  KonaplateValidationError,
} from './errors';
import { createKonaplateClient, type KonaplateClient, type KonaplateClientOptions } from './konaplate-client';
import { sandboxClientOptions, SANDBOX_HOLDERS, startKonaplateSandbox, type KonaplateSandbox } from './sandbox';

const FAST: Partial<KonaplateClientOptions> = { inquiryRetry: { baseDelayMs: 1, maxDelayMs: 2 }, timeoutMs: 5_000 };
const HOLDER = SANDBOX_HOLDERS[2]!;

let sandbox: KonaplateSandbox;
let client: KonaplateClient;
let clock = Date.now();

beforeAll(async () => {
  sandbox = await startKonaplateSandbox({ port: 0, arsCodeValidSeconds: 60, now: () => new Date(clock) });
  client = createKonaplateClient(sandboxClientOptions(sandbox, { ...FAST, now: () => new Date(clock) }));
});
afterAll(() => sandbox.close());

let counter = 0;
const regTranId = () => `REG${Date.now()}${String(++counter).padStart(6, '0')}`;

/** A fresh member whose holder check of HOLDER's account passed. */
async function verifiedMember(): Promise<string> {
  const { userId } = await client.registerMember({
    loginId: `ars${Date.now()}${++counter}`,
    userName: HOLDER.holderName,
    birthDate: HOLDER.birthDate,
    phoneNumber: '01012345678',
  });
  await client.verifyAccountHolder({
    userId,
    userName: HOLDER.holderName,
    birthDate: HOLDER.birthDate,
    bankCode: HOLDER.bankCode,
    bankAccount: HOLDER.bankAccount,
  });
  return userId;
}

describe('ARS registration (ASSUMED API)', () => {
  it('code → registration places one call → the right code registers the normal top-up account', async () => {
    const userId = await verifiedMember();
    const id = regTranId();
    const account = { userId, regTranId: id, bankCode: HOLDER.bankCode, bankAccount: HOLDER.bankAccount };
    const issued = await client.issueArsCode(account);
    expect(issued.authCode).toMatch(/^\d{2}$/);
    expect(issued.validSeconds).toBe(60);
    // Same id, same account: the same code (a retry after a lost answer).
    expect((await client.issueArsCode(account)).authCode).toBe(issued.authCode);
    expect((await client.inquireAccountRegistration({ userId, regTranId: id })).status).toBe('CODE_ISSUED');

    expect((await client.registerBankAccount({ userId, regTranId: id })).status).toBe('CALLING');
    // A repeated registration request answers the status and places no second call.
    expect((await client.registerBankAccount({ userId, regTranId: id })).status).toBe('CALLING');
    expect(sandbox.arsRegistrations.get(id)!.calls).toBe(1);
    expect((await client.inquireBankAccounts({ userId })).bankAccForNormalRcg).toBeUndefined();

    sandbox.answerArsCall(id, issued.authCode);
    expect((await client.inquireAccountRegistration({ userId, regTranId: id })).status).toBe('REGISTERED');
    const accounts = await client.inquireBankAccounts({ userId });
    expect(accounts.bankAccForNormalRcg?.bankAccount).toBe(HOLDER.bankAccount);
    expect(accounts.isAutoRcgAccRegAllowed).toBe(true);
  });

  it('a wrong code, no answer, or the code running out fail the registration and register nothing', async () => {
    const userId = await verifiedMember();
    const account = { userId, bankCode: HOLDER.bankCode, bankAccount: HOLDER.bankAccount };
    const wrong = regTranId();
    const issued = await client.issueArsCode({ ...account, regTranId: wrong });
    await client.registerBankAccount({ userId, regTranId: wrong });
    sandbox.answerArsCall(wrong, issued.authCode === '00' ? '01' : '00');
    expect(await client.inquireAccountRegistration({ userId, regTranId: wrong })).toMatchObject({
      status: 'FAILED',
      failReason: 'CODE_MISMATCH',
    });

    const unanswered = regTranId();
    await client.issueArsCode({ ...account, regTranId: unanswered });
    await client.registerBankAccount({ userId, regTranId: unanswered });
    sandbox.failArsCall(unanswered, 'NO_ANSWER');
    expect(await client.inquireAccountRegistration({ userId, regTranId: unanswered })).toMatchObject({
      status: 'FAILED',
      failReason: 'NO_ANSWER',
    });

    const late = regTranId();
    await client.issueArsCode({ ...account, regTranId: late });
    await client.registerBankAccount({ userId, regTranId: late });
    clock += 61_000;
    try {
      expect((await client.inquireAccountRegistration({ userId, regTranId: late })).status).toBe('EXPIRED');
      expect(() => sandbox.answerArsCall(late, '00')).toThrow(/EXPIRED/);
    } finally {
      clock -= 61_000;
    }
    expect((await client.inquireBankAccounts({ userId })).bankAccForNormalRcg).toBeUndefined();
  });

  it('refuses a code for an account not holder-verified for the member, another account under the same id, unknown members', async () => {
    const userId = await verifiedMember();
    const id = regTranId();
    await expect(
      client.issueArsCode({ userId, regTranId: id, bankCode: '088', bankAccount: SANDBOX_HOLDERS[0]!.bankAccount }),
    ).rejects.toBeInstanceOf(KonaplateInvalidRequestError);
    await client.issueArsCode({ userId, regTranId: id, bankCode: HOLDER.bankCode, bankAccount: HOLDER.bankAccount });
    await expect(client.issueArsCode({ userId, regTranId: id, bankCode: '088', bankAccount: '110234567890' })).rejects.toMatchObject({
      code: '000_002',
    });
    await expect(
      client.issueArsCode({ userId: '1999999999', regTranId: regTranId(), bankCode: '088', bankAccount: '110234567890' }),
    ).rejects.toBeInstanceOf(KonaplateHolderNotFoundError);
    await expect(
      client.issueArsCode({ userId, regTranId: regTranId(), bankCode: '088', bankAccount: '9000000008' }),
    ).rejects.toBeInstanceOf(KonaplateAccountNotUsableError);
    // Another member asking about this registration: not found.
    expect((await client.inquireAccountRegistration({ userId: '1000000001', regTranId: id })).status).toBe('NOT_FOUND');
    await expect(client.issueArsCode({ userId, regTranId: 'short', bankCode: '088', bankAccount: '1' })).rejects.toBeInstanceOf(
      KonaplateValidationError,
    );
  });
});

describe('transaction history (ASSUMED API)', () => {
  it('lists a member’s charges and withdrawals of the KST days asked, in pages, including ones nobody asked through this API', async () => {
    const userId = await verifiedMember();
    sandbox.setRegisteredAccounts(userId, { normal: HOLDER });
    const ids = [0, 1, 2].map(() => regTranId());
    await client.charge({ userId, tranId: ids[0]!, amount: 10_000n });
    await client.withdraw({ userId, tranId: ids[1]!, amount: 3_000n });
    const foreign = sandbox.recordForeignMovement({ userId, kind: 'CHARGE', amount: 777n, tranId: ids[2] });
    const day = new Date(clock + 9 * 3_600_000).toISOString().slice(0, 10).replace(/-/g, '');

    const first = await client.listTransactions({ userId, fromDate: day, toDate: day, pageNo: 1, pageSize: 2 });
    const second = await client.listTransactions({ userId, fromDate: day, toDate: day, pageNo: 2, pageSize: 2 });
    expect(first.totalCount).toBe(3);
    const listed = [...first.transactions, ...second.transactions];
    expect(listed.map((t) => t.tranId).sort()).toEqual([...ids].sort());
    expect(listed.find((t) => t.tranId === foreign.tranId)).toMatchObject({ status: 'SUCCESS', kind: 'CHARGE', amount: 777n });
    expect(listed.find((t) => t.tranId === ids[1])).toMatchObject({ kind: 'WITHDRAW', amount: 3_000n });

    const yesterday = new Date(clock + 9 * 3_600_000 - 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
    expect((await client.listTransactions({ userId, fromDate: yesterday, toDate: yesterday, pageNo: 1, pageSize: 100 })).totalCount).toBe(
      0,
    );
    await expect(client.listTransactions({ userId, fromDate: day, toDate: yesterday, pageNo: 1, pageSize: 100 })).rejects.toBeInstanceOf(
      KonaplateValidationError,
    );
  });
});

// Issue 14 item 7: RegisterKyc's kyc_data was discarded, so the operator approved blind. It is now
// stored sealed under the user data key with the REGISTERED status, opened only for the reviewer
// (GetKycData), and kept sealed out of the reviewers' reach after a withdrawal until retention ends.
import { InvalidArgumentError } from '@kfrm/errors';
import { KeyEncryptionKey } from '@kfrm/e2e-crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_KYC_DATA_BYTES } from './accounts';
import { createKycDataSealer, SealedKycDataError } from './kyc-data-seal';
import { createKycReview, maskPhone } from './kyc-review';
import { activatedUser, codeOf, openHarness, type Harness } from './testing/user.harness';
import { erasePersonalDataPastRetention } from './user.repository';

let h: Harness;

beforeAll(async () => {
  h = await openHarness();
});

afterAll(async () => {
  await h?.close();
});

const rawRow = (userId: bigint) => h.db.selectFrom('users').selectAll().where('id', '=', userId.toString()).executeTakeFirstOrThrow();
const KYC = '{"document":"id-card","issued":"2019-03-04","holder":"김서연","number":"12-345678-90"}';

describe('KYC data at rest', () => {
  it('is stored sealed with the status in one write, and opened for the reviewer as submitted', async () => {
    const review = createKycReview(h.deps);
    const { user } = await activatedUser(h);
    expect(await codeOf(review.getKycData(user.id))).toBe('KYC_DATA_NOT_FOUND');
    await h.accounts.updateKyc({ userId: user.id, kycStatus: 'REGISTERED', reason: 'submitted', kycData: KYC });
    const row = await rawRow(user.id);
    expect(row.kyc_status).toBe('REGISTERED');
    expect(row.kyc_data_sealed).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(row.kyc_submitted_at).toEqual(h.clock.now());
    for (const part of ['id-card', '12-345678-90', '김서연']) expect(JSON.stringify(row)).not.toContain(part);
    const opened = await review.getKycData(user.id);
    expect([opened.kycData, opened.user.kycStatus, opened.submittedAt]).toEqual([KYC, 'REGISTERED', h.clock.now()]);
    // The reviewer's decision keeps the data (no kycData given).
    await h.accounts.updateKyc({ userId: user.id, kycStatus: 'VERIFIED', reason: 'reviewed' });
    expect((await review.getKycData(user.id)).kycData).toBe(KYC);
    expect(await codeOf(review.getKycData(999_999_999n))).toBe('USER_NOT_FOUND');
    expect(h.logs.lines.join('\n')).not.toContain('12-345678-90');
  });

  it('refuses oversized or blank data, writing nothing', async () => {
    const { user } = await activatedUser(h);
    const tooBig = 'x'.repeat(MAX_KYC_DATA_BYTES + 1);
    await expect(h.accounts.updateKyc({ userId: user.id, kycStatus: 'REGISTERED', reason: '', kycData: tooBig })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    await expect(h.accounts.updateKyc({ userId: user.id, kycStatus: 'REGISTERED', reason: '', kycData: '  ' })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    const row = await rawRow(user.id);
    expect([row.kyc_status, row.kyc_data_sealed]).toEqual(['NONE', null]);
  });

  it('does not open in another row, nor under another key', async () => {
    const review = createKycReview(h.deps);
    const { user: a } = await activatedUser(h);
    const { user: b } = await activatedUser(h);
    await h.accounts.updateKyc({ userId: a.id, kycStatus: 'REGISTERED', reason: '', kycData: KYC });
    await h.db
      .updateTable('users')
      .set({ kyc_data_sealed: (await rawRow(a.id)).kyc_data_sealed, kyc_submitted_at: h.clock.now() })
      .where('id', '=', b.id.toString())
      .execute();
    await expect(review.getKycData(b.id)).rejects.toBeInstanceOf(SealedKycDataError);
    await expect(review.getKycData(b.id)).rejects.not.toThrow(/id-card/);
    const foreign = createKycDataSealer(KeyEncryptionKey.generate()).seal(a.id, KYC);
    await h.db.updateTable('users').set({ kyc_data_sealed: foreign }).where('id', '=', a.id.toString()).execute();
    await expect(review.getKycData(a.id)).rejects.toBeInstanceOf(SealedKycDataError);
  });

  it('lists customers waiting for a decision, oldest submission first; decided ones leave the queue', async () => {
    const review = createKycReview(h.deps);
    const { user: first } = await activatedUser(h);
    const { user: second } = await activatedUser(h);
    await h.accounts.updateKyc({ userId: second.id, kycStatus: 'REGISTERED', reason: '', kycData: KYC });
    h.clock.advance(1_000);
    await h.accounts.updateKyc({ userId: first.id, kycStatus: 'REGISTERED', reason: '', kycData: KYC });
    const ids = (await review.listReviews(200)).map((r) => r.userId);
    expect(ids.indexOf(second.id)).toBeGreaterThanOrEqual(0);
    expect(ids.indexOf(second.id)).toBeLessThan(ids.indexOf(first.id));
    await h.accounts.updateKyc({ userId: second.id, kycStatus: 'REJECTED', reason: 'photo unreadable' });
    expect((await review.listReviews(200)).map((r) => r.userId)).not.toContain(second.id);
  });

  it('after a withdrawal: out of the reviewers reach and the queue, kept sealed, erased when retention ends', async () => {
    const review = createKycReview(h.deps);
    const { user } = await activatedUser(h);
    await h.accounts.updateKyc({ userId: user.id, kycStatus: 'REGISTERED', reason: '', kycData: KYC });
    const retainUntil = new Date(h.clock.now().getTime() + 60_000);
    // What the withdrawal's erasure step leaves (withdrawal.it.test.ts runs the steps themselves).
    await h.db
      .updateTable('users')
      .set({ status: 'DEACTIVATED', withdrawn_at: h.clock.now(), personal_data_retain_until: retainUntil })
      .where('id', '=', user.id.toString())
      .execute();
    expect(await codeOf(review.getKycData(user.id))).toBe('KYC_DATA_NOT_FOUND');
    expect((await review.listReviews(200)).map((r) => r.userId)).not.toContain(user.id);
    expect((await rawRow(user.id)).kyc_data_sealed).not.toBeNull();
    await erasePersonalDataPastRetention(h.db, retainUntil);
    expect((await rawRow(user.id)).kyc_data_sealed).toBeNull();
  });

  it('customer lookup masks the phone number and finds by customer id', async () => {
    const review = createKycReview(h.deps);
    expect(maskPhone('010-2468-1357')).toBe('010****1357');
    const { user } = await activatedUser(h);
    const view = await review.lookupCustomer({ id: user.id });
    expect(view.maskedPhone).toBe(maskPhone(user.phoneNumber));
    expect(view.maskedPhone).not.toBe(user.phoneNumber.replace(/\D/g, ''));
    expect(await codeOf(review.lookupCustomer({ customerId: 'C000000000000' }))).toBe('USER_NOT_FOUND');
    expect(await codeOf(review.lookupCustomer({ customerId: "' or 1=1 --" }))).toBe('USER_NOT_FOUND');
  });
});

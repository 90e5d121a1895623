import { failWith } from '@kfrm/errors';
import type { UserDomainDeps } from './deps';
import type { KycStatusName, UserRecord } from './user.model';
import { findUserDetail, listKycReviews } from './user.repository';

/**
 * The back office's views of customers (issue 14 item 7, issue 16 item 4): the KYC review queue,
 * one customer's submitted KYC data opened for the reviewer, and the customer lookup. Who may
 * call them (kyc-reviewer; support, teller) and the audit rows are the handlers' policies.
 */
export type GetKycDataCode = 'USER_NOT_FOUND' | 'KYC_DATA_NOT_FOUND';
export type LookupCustomerCode = 'USER_NOT_FOUND';

const kycFailed = failWith<GetKycDataCode>();
const lookupFailed = failWith<LookupCustomerCode>();

export interface KycReviewEntry {
  userId: bigint;
  kycStatus: KycStatusName;
  submittedAt: Date | null;
}

export interface SubmittedKycData {
  user: UserRecord;
  kycData: string;
  submittedAt: Date;
}

export interface CustomerView {
  user: UserRecord;
  /** The phone number with its middle digits masked. */
  maskedPhone: string;
  withdrawnAt: Date | null;
}

/** 010-1234-5678 → 010****5678: enough to recognise the customer on the phone, no more. */
export function maskPhone(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  if (digits.length < 8) return '*'.repeat(digits.length);
  return `${digits.slice(0, 3)}${'*'.repeat(digits.length - 7)}${digits.slice(-4)}`;
}

export function createKycReview(deps: Pick<UserDomainDeps, 'db' | 'kycData'>) {
  const { db } = deps;
  return {
    /** `limit` 0 = 50, at most 200. */
    async listReviews(limit: number): Promise<KycReviewEntry[]> {
      return listKycReviews(db, limit === 0 ? 50 : Math.min(Math.max(limit, 1), 200));
    },

    /**
     * The data as the customer sent it. A withdrawn member's stays sealed for the retention
     * period and is not the reviewer's to read (KYC_DATA_NOT_FOUND, as when none was sent).
     */
    async getKycData(userId: bigint): Promise<SubmittedKycData> {
      const found = await findUserDetail(db, { id: userId });
      if (!found) throw kycFailed('USER_NOT_FOUND', 'user not found');
      if (found.kycDataSealed === null || found.kycSubmittedAt === null || found.withdrawnAt !== null)
        throw kycFailed('KYC_DATA_NOT_FOUND', 'no KYC data on record for this user');
      return { user: found.user, kycData: deps.kycData.open(userId, found.kycDataSealed), submittedAt: found.kycSubmittedAt };
    },

    async lookupCustomer(key: { id: bigint } | { customerId: string }): Promise<CustomerView> {
      if ('customerId' in key && !/^C[0-9]{12}$/.test(key.customerId)) throw lookupFailed('USER_NOT_FOUND', 'user not found');
      const found = await findUserDetail(db, key);
      if (!found) throw lookupFailed('USER_NOT_FOUND', 'user not found');
      return { user: found.user, maskedPhone: maskPhone(found.user.phoneNumber), withdrawnAt: found.withdrawnAt };
    },
  };
}

export type KycReview = ReturnType<typeof createKycReview>;

// A new customer as the demo makes one, for the fault tests and the benchmarks: a phone with a
// device certificate signs up and logs in with a PIN; an operator approves KYC over the internal
// listener; the phone opens a CASA account; an operator funds it.
import { randomBytes, randomInt } from 'node:crypto';
import { AppClient, loginWithPin, registerUser, unary, withSession, type RegisteredUser } from '@kfrm/app-client';
import type { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { CasaOpeningServiceClient, UserStatus } from '@kfrm/proto/gen/kfrm/api/casa/casa';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { KycStatus } from '@kfrm/proto/gen/kfrm/api/user/user';
import type { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';

// Secrets that pass the PIN, pattern and account-password rules for this birth date and phone
// (the demo's; services/auth and services/casa READMEs).
export const PIN = '582916';
const PATTERN = '14763';
const ACCOUNT_PASSWORD = '2580';
const PHONE = '010-2468-1357';

export const krw = (majorAmount: bigint) => ({ currencyCode: CurrencyCode.KRW, majorAmount, minorAmount: 0n });

export interface Customer {
  app: AppClient;
  user: RegisteredUser;
  session: ReturnType<typeof withSession>;
  sessionToken: string;
  accountNumber: string;
}

export interface CustomerOptions {
  /** Names the user, the device and the funding deposit's idempotency key. */
  label: string;
  address: string;
  serverCaPem: Buffer;
  fundingKrw: bigint;
  /** The operator's clients on the internal listener. */
  operator: { ledger: LedgerServiceClient; userAccounts: UserAccountServiceClient };
  /** Registers a biometric key too (the user's `biometricKey`). Default false. */
  biometric?: boolean;
}

export async function openCustomer(options: CustomerOptions): Promise<Customer> {
  const { ledger, userAccounts } = options.operator;
  const app = new AppClient({ address: options.address, serverCaPem: options.serverCaPem });
  await app.registerDevice();
  const user = await registerUser(app, {
    name: options.label,
    phoneNumber: PHONE,
    deviceUuid: `${options.label.replace(/\W+/g, '-')}-${randomBytes(4).toString('hex')}`,
    pin: PIN,
    pattern: PATTERN,
    residentId: `900327-2${String(randomInt(0, 1_000_000)).padStart(6, '0')}`,
    biometric: options.biometric ?? false,
  });
  const { sessionToken } = await loginWithPin(app, user.userToken, PIN);
  const session = withSession(sessionToken);
  await unary(userAccounts, userAccounts.updateKyc, {
    userId: user.userId,
    kycStatus: KycStatus.VERIFIED,
    reason: options.label,
    kycData: '',
  });
  const casa = app.client(CasaOpeningServiceClient);
  const { userStatus } = await unary(casa, casa.initiateOpening, {}, session);
  if (userStatus !== UserStatus.OK) throw new Error(`user status ${UserStatus[userStatus]}`);
  const { terms } = await unary(casa, casa.listTerms, {}, session);
  await unary(casa, casa.agreeTerms, { agreements: terms.map((t) => ({ termId: t.id, agreed: true })) }, session);
  const opened = await unary(casa, casa.completeOpening, { password: ACCOUNT_PASSWORD }, session);
  const accountNumber = opened.account!.accountNumber;
  await unary(ledger, ledger.deposit, {
    idempotencyKey: `fund-${accountNumber}`,
    accountNumber,
    amount: krw(options.fundingKrw),
    memo: `${options.label} funding`,
    events: [],
  });
  return { app, user, session, sessionToken, accountNumber };
}

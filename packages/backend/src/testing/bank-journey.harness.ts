// Every service in one process (the embedded backend) and what a customer does to get a funded
// account: a phone with its device certificate, sign-up, login, KYC approved by the operator, a
// CASA account, a deposit. For journeys that move money (credential-lifecycle.it.test.ts).
import { operatorTokenInterceptor } from '@kfrm/runtime';
import { operatorToken } from '@kfrm/runtime/testing/operator-tokens.fixtures';
import { randomInt, randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { AppClient, loginWithPin, registerUser, unary, withSession, type RegisteredUser, type UserProfile } from '@kfrm/app-client';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { CasaOpeningServiceClient } from '@kfrm/proto/gen/kfrm/api/casa/casa';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { KycStatus } from '@kfrm/proto/gen/kfrm/api/user/user';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import type { OpenTestDatabaseOptions } from '@kfrm/db/test-database';
import { startTestServices } from '@kfrm/runtime/testing/services.harness';
import { serviceModules } from '../service-modules';

/** Secrets that pass the PIN, pattern and account-password rules with these birth dates and phones (as the demo's). */
const PEOPLE = [
  { pin: '582916', pattern: '14763', password: '2580', residentPrefix: '900327-2', phone: '010-1357-2468' },
  { pin: '714095', pattern: '25418', password: '3916', residentPrefix: '881104-1', phone: '010-3579-8642' },
] as const;

export interface Customer {
  app: AppClient;
  profile: UserProfile;
  user: RegisteredUser;
  sessionToken: string;
  accountNumber: string;
}

export async function startBankJourney(name: string, options: { databaseOptions?: OpenTestDatabaseOptions } = {}) {
  const services = await startTestServices(serviceModules, { name, env: { LOG_LEVEL: 'silent' }, ...options });
  const { running, mobileAddress, serverCaPem } = services;
  const internal = `127.0.0.1:${running.internalPort}`;
  // The operator's side: a teller funds, a KYC reviewer approves (tokens of the local issuer).
  const issuerDir = running.config.operatorIssuerDir;
  const ledger = new LedgerServiceClient(internal, grpc.credentials.createInsecure(), {
    interceptors: [operatorTokenInterceptor(await operatorToken(issuerDir, ['teller'], 'test-teller'))],
  });
  const userAccounts = new UserAccountServiceClient(internal, grpc.credentials.createInsecure(), {
    interceptors: [operatorTokenInterceptor(await operatorToken(issuerDir, ['kyc-reviewer'], 'test-kyc-reviewer'))],
  });
  const apps: AppClient[] = [];
  let seq = 0;

  async function newPhone(): Promise<AppClient> {
    const app = new AppClient({ address: mobileAddress, serverCaPem });
    apps.push(app);
    await app.registerDevice('ec-p256');
    return app;
  }

  /** A signed-up, logged-in customer with a CASA account, funded with `depositKrw` when given. */
  async function customer(depositKrw = 0n): Promise<Customer & { password: string }> {
    const person = PEOPLE[seq++ % PEOPLE.length]!;
    const app = await newPhone();
    const profile: UserProfile = {
      name: `Customer ${seq} ${randomUUID().slice(0, 6)}`,
      phoneNumber: person.phone,
      deviceUuid: randomUUID(),
      pin: person.pin,
      pattern: person.pattern,
      residentId: `${person.residentPrefix}${String(randomInt(0, 1_000_000)).padStart(6, '0')}`,
      biometric: true,
    };
    const user = await registerUser(app, profile);
    const { sessionToken } = await loginWithPin(app, user.userToken, profile.pin);
    await unary(userAccounts, userAccounts.updateKyc, {
      userId: user.userId,
      kycStatus: KycStatus.VERIFIED,
      reason: 'test: reviewed',
      kycData: '',
    });
    const casa = app.client(CasaOpeningServiceClient);
    const session = withSession(sessionToken);
    await unary(casa, casa.initiateOpening, {}, session);
    const { terms } = await unary(casa, casa.listTerms, {}, session);
    await unary(casa, casa.agreeTerms, { agreements: terms.map((t) => ({ termId: t.id, agreed: true })) }, session);
    const opened = await unary(casa, casa.completeOpening, { password: person.password }, session);
    if (!opened.account) throw new Error('CompleteOpening returned no account');
    const accountNumber = opened.account.accountNumber;
    if (depositKrw > 0n) {
      await unary(ledger, ledger.deposit, {
        idempotencyKey: `test-deposit:${accountNumber}`,
        accountNumber,
        amount: { currencyCode: CurrencyCode.KRW, majorAmount: depositKrw, minorAmount: 0n },
        memo: 'test funding',
        events: [],
      });
    }
    return { app, profile, user, sessionToken, accountNumber, password: person.password };
  }

  async function close() {
    for (const app of apps) app.close();
    ledger.close();
    userAccounts.close();
    await services.close();
  }

  return { services, running, newPhone, customer, close };
}

export type BankJourney = Awaited<ReturnType<typeof startBankJourney>>;

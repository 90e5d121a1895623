// Issue 14 item 7 / issue 16 item 4: RegisterKyc's kyc_data was discarded, so the operator approved
// blind. Through the whole backend: the customer's submission reaches the KYC reviewer
// (GetKycData, kyc-reviewer only, audited), a reviewer cannot rewrite it, and the back office's
// customer lookup masks the phone number.
import * as grpc from '@grpc/grpc-js';
import { randomInt, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppClient, registerUser, unary } from '@kfrm/app-client';
import { AuditLog } from '@kfrm/audit';
import { KycStatus } from '@kfrm/proto/gen/kfrm/api/user/user';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { operatorTokenInterceptor } from '@kfrm/runtime';
import { operatorToken } from '@kfrm/runtime/testing/operator-tokens.fixtures';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { serviceModules } from './service-modules';

let services: TestServices;
let app: AppClient;
const clients: grpc.Client[] = [];

beforeAll(async () => {
  services = await startTestServices(serviceModules, { name: 'kyc-review', env: { LOG_LEVEL: 'silent' } });
  app = new AppClient({ address: services.mobileAddress, serverCaPem: services.serverCaPem });
  await app.registerDevice('ec-p256');
}, 60_000);

afterAll(async () => {
  app?.close();
  for (const c of clients) c.close();
  await services?.close();
});

async function accountsAs(roles: Parameters<typeof operatorToken>[1], subject: string) {
  const token = await operatorToken(services.running.config.operatorIssuerDir, roles, subject);
  const client = new UserAccountServiceClient(services.internalAddress, grpc.credentials.createInsecure(), {
    interceptors: [operatorTokenInterceptor(token)],
  });
  clients.push(client);
  return client;
}

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => grpc.status.OK,
    (err: grpc.ServiceError) => err.code,
  );

describe('KYC review through the backend', () => {
  it('shows the reviewer what the customer submitted with RegisterKyc', async () => {
    const kycData = `{"document":"driver-licence","number":"11-${randomInt(100000, 999999)}-00"}`;
    const user = await registerUser(app, {
      name: `Reviewed ${randomUUID().slice(0, 6)}`,
      phoneNumber: '010-1357-2468',
      deviceUuid: randomUUID(),
      pin: '582916',
      pattern: '14763',
      residentId: `900327-2${String(randomInt(0, 1_000_000)).padStart(6, '0')}`,
      kycData,
    });
    const reviewer = await accountsAs(['kyc-reviewer'], 'reviewer-1');
    const queue = await unary(reviewer, reviewer.listKycReviews, { limit: 200 });
    expect(queue.reviews.map((r) => r.userId)).toContain(user.userId);
    const seen = await unary(reviewer, reviewer.getKycData, { userId: user.userId });
    expect([seen.kycData, seen.kycStatus]).toEqual([kycData, KycStatus.REGISTERED]);

    // The teller may look the customer up, not read the KYC data.
    const teller = await accountsAs(['teller'], 'teller-1');
    expect(await codeOf(unary(teller, teller.getKycData, { userId: user.userId }))).toBe(grpc.status.PERMISSION_DENIED);
    const { customer } = await unary(teller, teller.lookupCustomer, { customerId: user.customerId });
    expect(customer?.userId).toBe(user.userId);
    expect(customer?.phoneNumber).toBe('010****2468');

    // A reviewer decides; the submission cannot be rewritten by an operator.
    expect(
      await codeOf(
        unary(reviewer, reviewer.updateKyc, { userId: user.userId, kycStatus: KycStatus.VERIFIED, reason: 'x', kycData: '{"forged":1}' }),
      ),
    ).toBe(grpc.status.INVALID_ARGUMENT);
    await unary(reviewer, reviewer.updateKyc, {
      userId: user.userId,
      kycStatus: KycStatus.VERIFIED,
      reason: 'documents match',
      kycData: '',
    });
    expect((await unary(reviewer, reviewer.getKycData, { userId: user.userId })).kycData).toBe(kycData);

    // Who read whose data is in the audit log; the data itself is not.
    const rows = await new AuditLog(services.database).list({ newestFirst: true, limit: 50 });
    const read = rows.find((r) => r.action === 'user.kyc_data_read' && r.actor === 'reviewer-1' && r.outcome === 'ok');
    expect(read?.target).toBe(`user:${user.userId}`);
    expect(JSON.stringify(rows.map((r) => r.detail))).not.toContain('driver-licence');
  }, 60_000);
});
